// Live refresh of the dashboard while a step is sending: polls the JSON
// endpoint and swaps the figures block. Without JavaScript the page is
// complete, only static (reload to update).
(function () {
  "use strict";
  var root = document.querySelector(".dashboard[data-live-url]");
  if (!root || !window.fetch) return;
  var url = root.getAttribute("data-live-url");
  var BUSY = 2000, IDLE = 10000;
  var timer = null;

  function schedule(sending) {
    clearTimeout(timer);
    timer = setTimeout(poll, sending ? BUSY : IDLE);
  }

  function poll() {
    if (document.hidden) { schedule(false); return; }
    fetch(url + window.location.search, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (data) {
        var live = document.getElementById("dash-live");
        if (live) live.innerHTML = data.html;
        root.setAttribute("data-sending", data.sending ? "1" : "0");
        var note = document.getElementById("dash-live-note");
        if (note) note.textContent = data.sending ? note.getAttribute("data-sending-text") || note.textContent : "";
        schedule(data.sending);
      })
      .catch(function () { schedule(false); });
  }

  schedule(root.getAttribute("data-sending") === "1");
})();
