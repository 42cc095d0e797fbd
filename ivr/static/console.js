// The console's live board: swap in a fresh copy of its changing part every few seconds,
// and tick the waiting times in between. Without JavaScript the page still works: reload it.
(function () {
  "use strict";

  var TICK_MS = 1000;

  var live = document.getElementById("board-live");
  if (!live) {
    return;
  }
  var url = live.getAttribute("data-live-url");
  var refreshMs = parseInt(live.getAttribute("data-refresh-ms"), 10) || 3000;
  var offsetMs = 0; // the server's clock minus this browser's
  var fetching = false;

  var note = document.getElementById("board-no-script");
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

  function swapIn(html) {
    live.innerHTML = html;
    live.classList.remove("stale");
    readServerClock();
    tick();
  }

  function refresh() {
    // A hidden tab need not ask; one request at a time however slow the server is.
    if (document.hidden || fetching) {
      return;
    }
    fetching = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.reload(); // signed out: show the sign-in page
          return null;
        }
        if (!response.ok) {
          throw new Error("board refresh: HTTP " + response.status);
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
