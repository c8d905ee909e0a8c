// New session form: show (and submit) only the chosen protocol's settings.
(function () {
  "use strict";
  var select = document.getElementById("id_protocol");
  if (!select) return;
  function show() {
    document.querySelectorAll(".protocol-settings").forEach(function (fs) {
      var on = fs.dataset.protocol === select.value;
      fs.hidden = !on;
      fs.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !on; });
    });
  }
  select.addEventListener("change", show);
  show();
})();
