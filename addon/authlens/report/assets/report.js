// authlens HTML report: optional filtering and search, and opening every <details>
// before printing. The page is complete without this script. It only reads data-*
// attributes and text, and never writes markup (no innerHTML), so traffic values in the
// page stay text.
(function () {
  "use strict";
  // Printing: show what collapsed <details> hold, then put them back as they were.
  var opened = [];
  window.addEventListener("beforeprint", function () {
    opened = Array.prototype.filter.call(document.querySelectorAll("details"), function (d) {
      return !d.open;
    });
    opened.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });

  var form = document.getElementById("filters");
  if (!form) {
    return;
  }
  var cards = Array.prototype.slice.call(document.querySelectorAll("article.card"));
  var count = document.getElementById("filter-count");
  var fields = {
    severity: document.getElementById("filter-severity"),
    diagnosis: document.getElementById("filter-diagnosis"),
    origin: document.getElementById("filter-origin"),
    q: document.getElementById("filter-q")
  };
  var texts = null; // lower-cased card text, computed on the first search only

  function apply() {
    var sev = fields.severity ? fields.severity.value : "";
    var dx = fields.diagnosis ? fields.diagnosis.value : "";
    var origin = fields.origin ? fields.origin.value : "";
    var q = fields.q ? fields.q.value.trim().toLowerCase() : "";
    if (q && texts === null) {
      texts = cards.map(function (c) { return c.textContent.toLowerCase(); });
    }
    var shown = 0;
    cards.forEach(function (card, i) {
      var ok =
        (!sev || card.getAttribute("data-severity") === sev) &&
        (!dx || (card.getAttribute("data-diagnoses") || "").split(" ").indexOf(dx) >= 0) &&
        (!origin || card.getAttribute("data-origin") === origin) &&
        (!q || texts[i].indexOf(q) >= 0);
      card.hidden = !ok;
      if (ok) {
        shown += 1;
      }
    });
    if (count) {
      count.textContent = "Showing " + shown + " of " + cards.length + " flows";
    }
  }

  var timer = null;
  function later() {
    if (timer !== null) {
      clearTimeout(timer);
    }
    timer = setTimeout(apply, 120);
  }

  form.addEventListener("change", apply);
  form.addEventListener("input", later);
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
  form.hidden = false;
  apply();

})();
