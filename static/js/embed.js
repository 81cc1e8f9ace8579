// A scenario inside a course page's iframe: Pix's embed protocol, with postMessage.
//
// To the parent:   {from: "pix", type: "init", rebootable: true, autoLaunch}  once loaded;
//                  {from: "pix", type: "height", height}  whenever the content's height changes;
//                  {from: "pix", answer: "…"}  once the scenario ended.
// From the parent: the string "launch", accepted only from the parent window itself and
//                  only from an origin of PIXLAB_EMBED_ORIGINS (the same list as the CSP's
//                  frame-ancestors, given in #pix-embed's data-origins).
// Each message sent or accepted is told to PixLab, which writes it in the lab's event log.
// Opened directly (no parent), the page is the player without the site's header.
(() => {
  "use strict";

  const framed = window.parent !== window;
  const config = () => document.getElementById("pix-embed");
  const DEFAULT_PORTS = { "http:": "80", "https:": "443" };

  // The rule of pixlab/web/embed.py's origin_allowed, as CSP frame-ancestors matches origins:
  // "*." is one or more labels (not the bare domain), no port is the scheme's default port.
  function originAllowed(origin) {
    let url;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    const port = url.port || DEFAULT_PORTS[url.protocol];
    const patterns = (config()?.dataset.origins || "").split(" ").filter(Boolean);
    return patterns.some((pattern) => {
      const found = /^(https?:)\/\/((?:\*\.)?[^:/]+|\[[^\]]+\])(?::(\d+|\*))?$/.exec(pattern);
      if (!found || found[1] !== url.protocol) return false;
      const wantedPort = found[3] || DEFAULT_PORTS[found[1]];
      if (wantedPort !== "*" && wantedPort !== port) return false;
      const host = found[2];
      if (host.startsWith("*.")) {
        return url.hostname.endsWith(host.slice(1)) && url.hostname.length > host.length - 1;
      }
      return url.hostname === host;
    });
  }

  // Where our messages may go: the parent's own origin when the browser tells it (Chromium,
  // Safari), so that no other page can read them; "*" otherwise (the CSP already refused to
  // show the page inside any parent that is not allowed).
  function parentOrigin() {
    const ancestors = window.location.ancestorOrigins;
    if (ancestors && ancestors.length && originAllowed(ancestors[0])) return ancestors[0];
    return "*";
  }

  function tell(kind, origin) {
    const element = config();
    if (!element) return;
    const form = new FormData();
    form.append("csrf_token", element.dataset.csrf);
    form.append("kind", kind);
    form.append("origin", origin === "*" ? "" : origin);
    fetch(element.dataset.eventUrl, { method: "POST", body: form, credentials: "same-origin",
                                      keepalive: true }).catch(() => {});
  }

  function post(message, kind) {
    if (!framed) return;
    const origin = parentOrigin();
    window.parent.postMessage(message, origin);
    if (kind) tell(kind, origin);
  }

  // -- height: a ResizeObserver on the body, no polling ------------------------------------
  let lastHeight = 0;
  function sendHeight() {
    const height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height === lastHeight) return;
    lastHeight = height;
    post({ from: "pix", type: "height", height });
  }

  // -- the answer, once the attempt ended (after a reload or a boosted swap) ---------------
  let answered = null;
  function sendAnswer() {
    const answer = config()?.dataset.answer;
    if (!answer || answer === answered) return;
    answered = answer;
    post({ from: "pix", answer }, "answer");
  }

  // -- "launch", from the course page ------------------------------------------------------
  window.addEventListener("message", (event) => {
    if (event.data !== "launch") return;
    if (event.source !== window.parent || !framed || !originAllowed(event.origin)) return;
    tell("launch", event.origin);
    // The course page's « launch » button is the learner's start: begin the scenario if it
    // is not begun yet, otherwise take the keyboard focus into the player.
    const start = document.getElementById("commencer");
    if (start) {
      start.form.requestSubmit(start);
    } else {
      document.getElementById("contenu")?.focus({ preventScroll: true });
    }
  });

  // Links that leave the player open outside the frame: the rest of PixLab cannot be framed.
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[href]");
    if (!link || link.hasAttribute("hx-get") || link.getAttribute("href").startsWith("#")) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin === window.location.origin && url.pathname.startsWith("/integration/")) return;
    event.preventDefault();
    event.stopPropagation();
    window.open(url.href, "_blank", "noopener");
  }, true);

  function start() {
    post({ from: "pix", type: "init", rebootable: true,
           autoLaunch: config()?.dataset.autoLaunch === "true" }, "init");
    new ResizeObserver(sendHeight).observe(document.body);
    sendHeight();
    sendAnswer();
    document.body.addEventListener("htmx:afterSettle", () => {
      sendAnswer();
      sendHeight();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
