// Session page behaviour on top of htmx's ws extension.
(function () {
  "use strict";

  function lastSeq() {
    var posts = document.querySelectorAll("#transcript [data-seq]");
    return posts.length ? posts[posts.length - 1].getAttribute("data-seq") : "0";
  }

  // On every (re)connect, ask the server for what we missed since the last post we show.
  function install() {
    if (!window.htmx) return setTimeout(install, 10);
    var create = htmx.createWebSocket || function (url) { return new WebSocket(url); };
    htmx.createWebSocket = function (url) {
      var u = new URL(url, window.location.href);
      u.searchParams.set("last_seq", lastSeq());
      return create(u.toString());
    };
  }
  install();

  function setConnection(state, text) {
    var el = document.getElementById("connection");
    if (el) { el.dataset.state = state; el.textContent = text; }
  }

  document.addEventListener("htmx:wsOpen", function () { setConnection("open", "Live"); });
  document.addEventListener("htmx:wsClose", function () { setConnection("closed", "Reconnecting…"); });

  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var t = evt.detail && evt.detail.target;
    if (t && (t.id === "transcript" || (t.id || "").indexOf("turn-") === 0)) {
      window.scrollTo({ top: document.body.scrollHeight, behavior: "smooth" });
    }
  });

  document.addEventListener("input", function (evt) {
    var t = evt.target;
    if (t && t.classList && t.classList.contains("confidence")) {
      var out = document.querySelector('output[data-for="' + t.id + '"]');
      if (out) out.textContent = Number(t.value).toFixed(2);
    }
  });

  // Countdowns of people's turns: the server sends the deadline, the page counts down to it.
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var left = Math.max(0, Math.round((Date.parse(el.dataset.due) - now) / 1000));
      el.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      el.classList.toggle("urgent", left <= 30);
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("htmx:oobAfterSwap", tick);
  document.addEventListener("DOMContentLoaded", tick);

  // Ctrl/Cmd+Enter posts.
  document.addEventListener("keydown", function (evt) {
    if (evt.target && evt.target.id === "post-text" && evt.key === "Enter" && (evt.ctrlKey || evt.metaKey)) {
      evt.preventDefault();
      document.getElementById("post-submit").click();
    }
  });
})();
