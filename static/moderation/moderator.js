// Moderator page: show whether the live metrics socket is connected (htmx ws extension).
(function () {
  "use strict";
  function setState(state, text) {
    var el = document.getElementById("metrics-connection");
    if (el) { el.dataset.state = state; el.textContent = text; }
  }
  document.addEventListener("htmx:wsOpen", function () { setState("open", "Live"); });
  document.addEventListener("htmx:wsClose", function () { setState("closed", "Reconnecting…"); });
})();
