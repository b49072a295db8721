// newsalert console: the rule tester checks the query while it is typed (a server round trip)
// and shows where it does not parse. Text is set with textContent only, never as HTML.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var query = document.getElementById("query");
  var out = document.getElementById("query-error");
  var rule = document.getElementById("rule");
  if (rule && query) {
    rule.addEventListener("change", function () { query.value = ""; out.hidden = true; });
  }
  if (!query || !out) { return; }
  var timer = null;
  var asked = 0;
  function check() {
    var n = ++asked;
    var url = query.dataset.check + "?query=" + encodeURIComponent(query.value);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (answer) {
        if (n !== asked || answer === null) { return; }
        if (answer.ok) { out.hidden = true; out.textContent = ""; return; }
        out.textContent = "column " + answer.column + ": " + answer.message + "\n" + answer.excerpt;
        out.hidden = false;
      })
      .catch(function () {});
  }
  query.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });
});
