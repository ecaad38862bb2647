// Results page: apply a filter as soon as it changes (the Filter button does the same without JS).
"use strict";
(function () {
  var form = document.getElementById("filters");
  if (!form) { return; }
  form.querySelectorAll("select, input[type=checkbox]").forEach(function (el) {
    el.addEventListener("change", function () { form.submit(); });
  });
})();
