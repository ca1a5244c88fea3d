// Jiefen pages work without JavaScript; this only adds conveniences (no framework, no network
// beyond this site): the live triage preview on the registration form, and "back" links.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-back]");
    if (link && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });

  var form = document.getElementById("new-case");
  if (!form) return;
  var target = document.getElementById("triage-result");
  var pending = null;
  var sequence = 0;
  function refresh() {
    var mine = ++sequence;
    var data = new FormData(form);
    fetch(form.getAttribute("data-preview"), { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null && mine === sequence) target.innerHTML = html; })
      .catch(function () { /* offline or slow: the preview button still works */ });
  }
  function later() {
    if (pending) clearTimeout(pending);
    pending = setTimeout(refresh, 300);
  }
  form.addEventListener("change", later);
  form.addEventListener("input", function (event) {
    if (event.target.name === "amount_yuan" || event.target.name === "people_involved") later();
  });
})();
