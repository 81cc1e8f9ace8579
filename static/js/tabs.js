// Tabs for the connection sheet ("Dans PixLab" / "Avec un vrai logiciel").
// Without JavaScript both panels show one after the other, and the links jump
// to them. With it, the links become ARIA tabs (arrow keys move between them).
(function () {
  "use strict";

  function setUp(box) {
    if (box.hasAttribute("data-tabs-ready")) return;
    var list = box.querySelector(".tab-list");
    if (!list) return;
    var links = Array.prototype.slice.call(list.querySelectorAll("a[data-tab]"));
    var panels = links.map(function (link) {
      return box.querySelector(link.getAttribute("href"));
    });
    if (panels.indexOf(null) !== -1) return;
    box.setAttribute("data-tabs-ready", "");
    list.setAttribute("role", "tablist");

    function select(index, focus) {
      links.forEach(function (link, i) {
        var chosen = i === index;
        link.setAttribute("aria-selected", chosen ? "true" : "false");
        link.tabIndex = chosen ? 0 : -1;
        panels[i].hidden = !chosen;
      });
      if (focus) links[index].focus();
    }

    links.forEach(function (link, i) {
      link.parentElement.setAttribute("role", "presentation");
      link.setAttribute("role", "tab");
      link.id = panels[i].id + "-onglet";
      link.setAttribute("aria-controls", panels[i].id);
      panels[i].setAttribute("role", "tabpanel");
      panels[i].setAttribute("aria-labelledby", link.id);
      panels[i].tabIndex = 0;
      link.addEventListener("click", function (event) {
        event.preventDefault();
        select(i, false);
      });
      link.addEventListener("keydown", function (event) {
        var next = {ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: links.length - 1}[event.key];
        if (next === undefined) return;
        event.preventDefault();
        select((next + links.length) % links.length, true);
      });
    });
    var wanted = panels.findIndex(function (panel) {
      return location.hash === "#" + panel.id;
    });
    select(wanted === -1 ? 0 : wanted, false);
  }

  function setUpAll(root) {
    Array.prototype.forEach.call(root.querySelectorAll("[data-tabs]"), setUp);
  }

  document.addEventListener("DOMContentLoaded", function () { setUpAll(document); });
  // Pages and fragments that htmx swaps in.
  document.addEventListener("htmx:load", function (event) { setUpAll(event.target); });
})();
