// Labelling page: keyboard shortcuts and time spent on the item.
// 1-9 choose an option (toggle for multiple choice), Enter submits, S skips.
// Keys typed into a text field or textarea are left alone (Enter still submits from a field).
(function () {
  "use strict";
  var started = performance.now();

  function typing(target) {
    return target && (target.tagName === "TEXTAREA" ||
      (target.tagName === "INPUT" && (target.type === "text" || target.type === "number")));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("label-form");
    if (!form) return;
    var seconds = document.getElementById("seconds");
    form.addEventListener("submit", function () {
      seconds.value = ((performance.now() - started) / 1000).toFixed(3);
    });
    var range = document.getElementById("confidence");
    var out = document.getElementById("confidence-out");
    if (range && out) {
      range.addEventListener("input", function () { out.textContent = range.value; });
    }
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "Enter") {
        if (event.target.tagName === "TEXTAREA" && event.shiftKey) return; // new line
        if (event.target.tagName === "BUTTON") return; // the button handles it
        event.preventDefault();
        form.requestSubmit();
        return;
      }
      if (typing(event.target)) return;
      if (event.key === "s" || event.key === "S") {
        event.preventDefault();
        document.getElementById("skip-form").requestSubmit();
        return;
      }
      var box = form.querySelector('input[data-key="' + event.key + '"]');
      if (box) {
        event.preventDefault();
        if (box.type === "checkbox") { box.checked = !box.checked; } else { box.checked = true; }
        box.focus();
      }
    });
  });
})();
