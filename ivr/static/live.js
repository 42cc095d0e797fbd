// The live part of a staff page (the agent desk, the console's board): swap in a fresh copy
// every few seconds, and tick the waiting times in between. Without JavaScript the page
// still works: reload it. The page names its live part with data-live-url (the fragment to
// fetch) and data-refresh-ms, and its "reload to refresh" note with data-no-script.
(function () {
  "use strict";

  var TICK_MS = 1000;
  var MAX_HELD_REFRESHES = 10; // never hold back a refresh for longer than ~30 s

  var live = document.querySelector("[data-live-url]");
  if (!live) {
    return;
  }
  var url = live.getAttribute("data-live-url");
  var refreshMs = parseInt(live.getAttribute("data-refresh-ms"), 10) || 3000;
  var offsetMs = 0; // the server's clock minus this browser's
  var held = 0;
  var fetching = false;

  var note = document.querySelector("[data-no-script]");
  if (note) {
    note.hidden = true;
  }

  function readServerClock() {
    var board = document.getElementById("board");
    var serverNow = board ? Date.parse(board.getAttribute("data-now")) : NaN;
    if (!isNaN(serverNow)) {
      offsetMs = serverNow - Date.now();
    }
  }

  function clockText(seconds) {
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function tick() {
    var now = Date.now() + offsetMs;
    var times = live.querySelectorAll("time[data-since]");
    for (var i = 0; i < times.length; i += 1) {
      var since = Date.parse(times[i].getAttribute("data-since"));
      if (!isNaN(since)) {
        times[i].textContent = clockText(Math.max(0, Math.floor((now - since) / 1000)));
      }
    }
  }

  // Someone using the keyboard inside the live part would lose their place if it were replaced.
  function inUse() {
    var active = document.activeElement;
    return active && active !== document.body && live.contains(active);
  }

  // Past calls a person opened stay open across refreshes.
  function openDetails() {
    var open = [];
    var found = live.querySelectorAll("[data-call-sid] details[open]");
    for (var i = 0; i < found.length; i += 1) {
      open.push(found[i].closest("[data-call-sid]").getAttribute("data-call-sid"));
    }
    return open;
  }

  function reopen(sids) {
    sids.forEach(function (sid) {
      var row = live.querySelector('[data-call-sid="' + sid + '"] details');
      if (row) {
        row.open = true;
      }
    });
  }

  function swapIn(html) {
    var open = openDetails();
    live.innerHTML = html;
    reopen(open);
    live.classList.remove("stale");
    readServerClock();
    tick();
  }

  function refresh() {
    // A hidden tab need not ask; one request at a time however slow the server is.
    if (document.hidden || fetching) {
      return;
    }
    if (inUse() && held < MAX_HELD_REFRESHES) {
      held += 1;
      return;
    }
    held = 0;
    fetching = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.reload(); // signed out: show the sign-in page
          return null;
        }
        if (!response.ok) {
          throw new Error("refresh: HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        if (html !== null) {
          swapIn(html);
        }
      })
      .catch(function () {
        live.classList.add("stale"); // keep what is shown, marked as possibly out of date
      })
      .then(function () {
        fetching = false;
      });
  }

  readServerClock();
  tick();
  window.setInterval(tick, TICK_MS);
  window.setInterval(refresh, refreshMs);
})();
