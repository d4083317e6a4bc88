/* Waiting page updates: polls the status endpoint with backoff and, once the visitor is
   admitted, goes to the same authorization URL, which redirects back with the code.
   External file so the Content-Security-Policy needs no inline script. Without JavaScript the
   page still works: its "Check again" link re-requests the same URL and keeps the place. */
(function () {
  "use strict";
  var main = document.getElementById("wr-main");
  if (!main || !window.fetch) { return; }
  var statusUrl = main.getAttribute("data-status-url");
  var authorizeUrl = main.getAttribute("data-authorize-url");
  var delay = 2000;           // first poll after 2 s
  var maxDelay = 30000;       // never wait more than 30 s between polls
  var failures = 0;

  function show(id, visible) {
    var el = document.getElementById(id);
    if (el) { el.hidden = !visible; }
  }

  function setText(id, value) {
    var el = document.getElementById(id);
    var text = String(value);
    if (el && el.textContent !== text) { el.textContent = text; }   // unchanged: no announcement
  }

  function render(data) {
    setText("wr-position", data.position);
    setText("wr-ahead", data.ahead);
    var est = data.estimate;
    if (est) {
      setText("wr-estimate-low", est.low_minutes);
      setText("wr-estimate-high", est.high_minutes);
    }
    show("wr-estimate-range", !!est && est.high_minutes > 1);
    show("wr-estimate-soon", !!est && est.high_minutes <= 1);
    show("wr-estimate-unknown", !est);
  }

  function proceed() {
    show("wr-admitted", true);
    window.location.assign(authorizeUrl);
  }

  function schedule(changed) {
    // Back off while nothing changes; come back to a quick pace when the line moves.
    delay = changed ? 2000 : Math.min(maxDelay, Math.round(delay * 1.5));
    window.setTimeout(poll, delay + Math.floor(Math.random() * 500));
  }

  var last = "";
  function poll() {
    fetch(statusUrl, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 404) { proceed(); return null; }   // place gone: the URL makes a new one
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (!data) { return; }
        failures = 0;
        if (data.status !== "waiting") { proceed(); return; }
        var key = data.position + "/" + data.ahead + "/" + JSON.stringify(data.estimate);
        render(data);
        schedule(key !== last);
        last = key;
      })
      .catch(function () {
        failures += 1;
        delay = Math.min(maxDelay, delay * 2);
        window.setTimeout(poll, delay);
      });
  }

  show("wr-updating", true);
  window.setTimeout(poll, delay);
}());
