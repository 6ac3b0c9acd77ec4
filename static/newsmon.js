// Progressive enhancement only: every feature works without this file.
// Filters submit on change; j/k move between articles; "/" focuses the search box.
(function () {
  "use strict";
  var form = document.querySelector("form.filters");
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
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    if (event.key === "/") {
      var search = document.getElementById("f-q");
      if (search) { event.preventDefault(); search.focus(); }
      return;
    }
    if (event.key !== "j" && event.key !== "k") { return; }
    var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
    if (!cards.length) { return; }
    var index = cards.indexOf(document.querySelector(".card.current"));
    index = event.key === "j" ? Math.min(index + 1, cards.length - 1) : Math.max(index - 1, 0);
    cards.forEach(function (card) { card.classList.remove("current"); });
    cards[index].classList.add("current");
    cards[index].focus();
    cards[index].scrollIntoView({ block: "nearest" });
  });
})();
