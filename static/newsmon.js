// Progressive enhancement only: every feature works without this file.
// Filters submit on change; the time zone is offered to the server; a click on a chart
// bar narrows the timeline; keyboard shortcuts (press ? for the list).
(function () {
  "use strict";
  var form = document.querySelector("form.filters");
  // Wide screens show the filters open; CSS does it where ::details-content exists.
  var panel = document.querySelector("details.filter-panel");
  if (panel && window.matchMedia && window.matchMedia("(min-width: 40.01rem)").matches &&
      !(window.CSS && CSS.supports && CSS.supports("selector(::details-content)"))) {
    panel.open = true;
  }
  if (form) {
    form.addEventListener("change", function (event) {
      if (event.target && event.target.name !== "q") { form.requestSubmit(); }
    });
    // Leave empty fields out of the URL so shared links stay short.
    form.addEventListener("formdata", function (event) {
      var empty = [];
      event.formData.forEach(function (value, key) { if (value === "") { empty.push(key); } });
      empty.forEach(function (key) { event.formData.delete(key); });
    });
  }
  // The browser's time zone, for pages of users who have not chosen one.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (ignored) { /* no Intl: pages stay in UTC */ }
  // A click on a bar of the volume chart narrows the timeline to its days (the table
  // under the chart has the same links for the keyboard and screen readers).
  document.addEventListener("click", function (event) {
    var bar = event.target && event.target.closest && event.target.closest("svg.chart .bar");
    if (bar && bar.dataset.href) { window.location.href = bar.dataset.href; }
  });
  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || (target && target.isContentEditable);
  }
  function current() { return document.querySelector(".card.current"); }
  function move(step) {
    var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
    if (!cards.length) { return; }
    var index = cards.indexOf(current());
    index = index === -1 ? 0 : Math.min(Math.max(index + step, 0), cards.length - 1);
    cards.forEach(function (card) { card.classList.remove("current"); });
    cards[index].classList.add("current");
    cards[index].focus();
    cards[index].scrollIntoView({ block: "nearest" });
  }
  var actions = {
    j: function () { move(1); },
    k: function () { move(-1); },
    o: function (card) {
      var link = card && card.querySelector("a.details");
      if (link) { window.location.href = link.href; }
    },
    m: function (card) {
      var mark = card && card.querySelector("form.mark-read");
      if (mark) { mark.requestSubmit(); }
    },
    f: function (card) {
      var flag = card && card.querySelector("details.article-actions");
      if (flag) { flag.open = true; var kind = flag.querySelector("select"); if (kind) { kind.focus(); } }
    },
    "?": function () {
      var help = document.getElementById("shortcuts");
      if (help && !help.open) { help.showModal(); }
    },
  };
  actions.Enter = actions.o;
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    if (event.key === "/") {
      var search = document.getElementById("f-q");
      if (search) {
        event.preventDefault();
        if (panel) { panel.open = true; }  // collapsed on a phone
        search.focus();
      }
      return;
    }
    var action = actions[event.key];
    if (!action) { return; }
    // Enter on a link or button keeps its own meaning; on a focused card it opens it.
    if (event.key === "Enter" && !(event.target && event.target.classList.contains("card"))) { return; }
    event.preventDefault();
    action(current());
  });
})();
