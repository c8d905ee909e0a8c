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

  // Every new state re-renders the side panel and the turn fields. A field marked
  // data-preserve keeps what the person chose or typed (and their focus) across such a swap,
  // as long as the attribute's value (e.g. the reviewed participant) stays the same, so that
  // nobody's input is reset whenever someone else posts.
  var refocus = null;
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var d = evt.detail;
    if (!d || !d.target || !d.fragment || !d.target.querySelectorAll) return;
    d.target.querySelectorAll("[data-preserve][id]").forEach(function (old) {
      var fresh = d.fragment.querySelector("#" + CSS.escape(old.id));
      if (!fresh || fresh.getAttribute("data-preserve") !== old.getAttribute("data-preserve")) return;
      if (fresh.tagName === "SELECT") {
        Array.prototype.forEach.call(fresh.options, function (o) {
          o.selected = o.value === old.value;
          o.toggleAttribute("selected", o.selected);
        });
      } else {
        fresh.value = old.value;
        fresh.setAttribute("value", old.value);
      }
      if (document.activeElement === old) {
        refocus = { id: old.id, start: old.selectionStart, end: old.selectionEnd };
      }
    });
  });
  document.addEventListener("htmx:oobAfterSwap", function () {
    if (!refocus) return;
    var el = document.getElementById(refocus.id);
    if (el && document.activeElement !== el) {
      el.focus();
      if (refocus.start != null && el.setSelectionRange) {
        try { el.setSelectionRange(refocus.start, refocus.end); } catch (e) { /* not text */ }
      }
    }
    refocus = null;
  });

  // The moderator's controls: say why the server refused one (a bad setting value, a turn that
  // is already over), and empty the live-setting box once a change is accepted. Watched on the
  // request itself: the new state may replace the button or form before the response arrives.
  function controlError(text) {
    var box = document.getElementById("control-error");
    if (box) box.textContent = text;
  }
  document.addEventListener("htmx:beforeSend", function (evt) {
    var elt = evt.detail && evt.detail.elt;
    var xhr = evt.detail && evt.detail.xhr;
    if (!elt || !xhr || !/\/control\//.test(elt.getAttribute("hx-post") || "")) return;
    var isLiveSetting = elt.id === "live-settings";
    xhr.addEventListener("loadend", function () {
      if (xhr.status >= 200 && xhr.status < 300) {
        controlError("");
        var value = document.getElementById("live-value");
        if (isLiveSetting && value) {
          value.value = "";
          value.removeAttribute("value");
        }
      } else {
        controlError(xhr.responseText || "The server refused that (status " + xhr.status + ").");
      }
    });
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

  // The invite link selects itself when clicked, ready to copy.
  document.addEventListener("click", function (evt) {
    var el = evt.target;
    if (el && el.classList && el.classList.contains("select-on-click")) el.select();
  });
})();
