// The search page's filter panel: folded on a phone so the results come first, open on wider screens.
"use strict";
(function () {
  var panel = document.getElementById("filter-panel");
  if (panel && window.matchMedia("(min-width: 700px)").matches) { panel.open = true; }
})();
