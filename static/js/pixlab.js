// PixLab's own script, kept out of the pages: the Content-Security-Policy allows
// no inline script and no eval, so htmx's trigger filters ([detail.source!=…],
// which htmx runs through eval) cannot be used.

// When one device changed the mailbox, every other device's pane looks again.
document.addEventListener("pixlab-mail-changed", (event) => {
  const source = event.detail && event.detail.source;
  for (const pane of document.querySelectorAll("[data-mail-device]")) {
    if (String(source) !== pane.dataset.mailDevice) {
      htmx.trigger(pane, "pixlab-mail-refresh");
    }
  }
});
