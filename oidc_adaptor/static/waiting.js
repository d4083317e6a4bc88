/* Waiting page updates. The page polls the event's status document (/events/<id>/status): the
   same bytes for every visitor, so the browser, the nginx front or CloudFront answer most polls
   and the origin sees about one request per event and cache window. The page knows its own place
   (data-position) and computes people ahead and the estimate itself. Once the serving counter
   reaches that place, or the document shows something the page cannot judge (the line was
   reset), it goes to the same authorization URL: the server decides there, and only an
   admitted place gets a code.
   External file so the Content-Security-Policy needs no inline script. Without JavaScript the
   page still works: its "Check again" link re-requests the same URL and keeps the place. */
(function () {
  "use strict";
  var main = document.getElementById("wr-main");
  if (!main || !window.fetch) { return; }
  var documentUrl = main.getAttribute("data-event-status-url");
  var authorizeUrl = main.getAttribute("data-authorize-url");
  var position = parseInt(main.getAttribute("data-position"), 10);
  var renderedAt = parseInt(main.getAttribute("data-rendered-at"), 10);
  var opensAt = parseInt(main.getAttribute("data-opens-at"), 10);
  if (main.getAttribute("data-pre-queue") === "true") {
    if (documentUrl && authorizeUrl && opensAt > 0) { preQueue(); }
    return;
  }
  if (!documentUrl || !authorizeUrl || !(position > 0)) { return; }
  var delay = 2000;           // first poll after 2 s
  var maxDelay = 30000;       // never wait more than 30 s between polls

  function show(id, visible) {
    var el = document.getElementById(id);
    if (el) { el.hidden = !visible; }
  }

  function setText(id, value) {
    var el = document.getElementById(id);
    var text = String(value);
    if (el && el.textContent !== text) { el.textContent = text; }   // unchanged: no announcement
  }

  // The same range as estimate_wait in oidc_adaptor/oidc/waiting.py (the page's first render).
  function estimateWait(ahead, rate) {
    if (!(rate > 0)) { return null; }
    var seconds = (ahead + 1) / rate;
    var low = Math.max(0, Math.floor(seconds * 0.75 / 60));
    var high = Math.max(low + 1, Math.ceil(seconds * 1.5 / 60));
    return { low_minutes: low, high_minutes: high };
  }

  // Numbers written as the page's language writes them (the server formats the first render
  // with Babel for the same language).
  var numbers = window.Intl ? new Intl.NumberFormat(document.documentElement.lang || undefined) : null;
  function num(value) { return numbers ? numbers.format(value) : String(value); }

  function render(ahead, est, doc) {
    setText("wr-position", num(position));
    setText("wr-ahead", num(ahead));
    if (est) {
      setText("wr-estimate-low", num(est.low_minutes));
      setText("wr-estimate-high", num(est.high_minutes));
    }
    show("wr-estimate-range", !!est && est.high_minutes > 1);
    show("wr-estimate-soon", !!est && est.high_minutes <= 1);
    show("wr-estimate-unknown", !est);
    // Why there is no estimate: paused, not open yet, at the front, or no rate to go by.
    var opens = !doc.paused && opensLater(doc) > 0;
    var why = doc.paused ? "paused" : opens ? "opens" : ahead === 0 ? "next" : "rate";
    ["paused", "opens", "next", "rate"].forEach(function (name) { show("wr-unknown-" + name, why === name); });
    show("wr-paused", !!doc.paused);
    show("wr-opens", opens);
    if (opens) { setText("wr-opens-time", new Date(opensLater(doc) * 1000).toLocaleString(document.documentElement.lang || undefined)); }
  }

  // When the line opens, if later than the copy's time (POSIX seconds), else 0: the event's
  // opening time (opens_at) or the admission window's start (start_at), whichever is later.
  function opensLater(doc) {
    if (typeof doc.server_time !== "number") { return 0; }
    var later = 0;
    [doc.opens_at, doc.start_at].forEach(function (t) {
      if (typeof t === "number" && t > doc.server_time && t > later) { later = t; }
    });
    return later;
  }

  // Since when the figures on the page are, and whether the last polls failed.
  function reconnecting(failed) {
    show("wr-reconnecting", failed);
    show("wr-updating", !failed);
  }

  function proceed() {
    show("wr-admitted", true);
    window.location.assign(authorizeUrl);
  }

  function schedule(changed) {
    // Back off while nothing changes; come back to a quick pace when the line moves. The jitter
    // spreads visitors who loaded the page together.
    delay = changed ? 2000 : Math.min(maxDelay, Math.round(delay * 1.5));
    window.setTimeout(poll, delay + Math.floor(Math.random() * 500));
  }

  // A copy rendered before this page may predate a reset of the line: it cannot speak for this
  // place, so it never sends the visitor on (the next poll fetches a newer one).
  function current(doc) {
    return typeof doc.server_time === "number" && doc.server_time >= renderedAt;
  }

  // The operator's message. Only a changed text is written, so the live region announces each
  // message once; textContent keeps it plain text whatever it holds.
  function showMessage(message) {
    var text = message && typeof message.text === "string" ? message.text : "";
    setText("wr-message", text);
    show("wr-message-box", text !== "");
  }

  // A copy's counters may be older than its server_time: it is in whole seconds, and a worker
  // renders it from counters up to half a second old. Only a copy two seconds newer than the page
  // was read after this place was taken, so only it can say the line no longer holds the place
  // (otherwise every visitor of a surge could come back to /authorize once, for nothing).
  function knowsPlace(doc) {
    return typeof doc.server_time === "number" && doc.server_time >= renderedAt + 2;
  }

  // The serving counter only goes back when the line was reset (or an operator moved it back).
  // Two copies prove it only when they are two seconds apart: their counters were then read in
  // that order, whichever worker or cache each came from. The server then says what became of
  // this place, instead of the page waiting for a counter that belongs to another line.
  var seen = [];                // [server_time, serving_counter] of recent copies, oldest first
  function wentBack(doc) {
    if (typeof doc.server_time !== "number") { return false; }
    var back = seen.some(function (s) {
      return doc.server_time >= s[0] + 2 && doc.serving_counter < s[1];
    });
    seen.push([doc.server_time, doc.serving_counter]);
    if (seen.length > 20) { seen.shift(); }
    return back;
  }

  var last = "";
  function poll() {
    // No cookie goes with it: the document is the same for everyone, and caches may share it.
    fetch(documentUrl, { credentials: "omit", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 404) { proceed(); return null; }   // event gone: the server explains
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (doc) {
        if (!doc) { return; }
        showMessage(doc.message);
        var serving = doc.serving_counter;
        var back = wentBack(doc);
        if ((current(doc) && serving >= position) || (knowsPlace(doc) && doc.last_position < position) || back) {
          proceed();
          return;
        }
        var ahead = Math.max(0, position - serving - 1);
        var moving = !doc.paused && !opensLater(doc);
        var est = moving ? estimateWait(ahead, doc.admission_rate) : null;
        var key = ahead + "/" + JSON.stringify(est) + "/" + doc.paused + "/" + opensLater(doc) + "/" +
          JSON.stringify(doc.message);
        updatedAt = new Date();
        reconnecting(false);
        render(ahead, est, doc);
        schedule(key !== last);
        last = key;
      })
      .catch(function () {
        setText("wr-updated-at", updatedAt.toLocaleTimeString(document.documentElement.lang || undefined));
        reconnecting(true);
        delay = Math.min(maxDelay, delay * 2);
        window.setTimeout(poll, delay + Math.floor(Math.random() * 500));
      });
  }

  // A pre-queue place has no position before the draw. The page counts down to the opening in
  // the visitor's time zone (the server's clock, from data-rendered-at, corrects the visitor's),
  // and polls the status document until the draw is open; then it goes back to the
  // authorization URL, which shows the drawn place. A random delay spreads the pre-queue's
  // return over a window that grows with its size (about RETURNS_PER_SECOND visitors a second,
  // 2 to 60 s), instead of every visitor arriving in the opening's very second.
  var RETURNS_PER_SECOND = 2000;
  function preQueue() {
    var lang = document.documentElement.lang || undefined;
    var skew = renderedAt > 0 ? renderedAt * 1000 - Date.now() : 0;
    var clock = document.getElementById("wr-countdown");
    var gone = false;
    var ticking = null;
    function showOpensAt() {
      setText("wr-opens-at", new Date(opensAt * 1000).toLocaleString(lang, { dateStyle: "full", timeStyle: "short" }));
    }
    function two(n) { return (n < 10 ? "0" : "") + n; }
    function back(size) {
      if (gone) { return; }
      gone = true;
      show("wr-opening", true);
      var spread = Math.max(2000, Math.min(60000, 1000 * (size > 0 ? size : 0) / RETURNS_PER_SECOND));
      window.setTimeout(function () { window.location.assign(authorizeUrl); }, Math.floor(Math.random() * spread));
    }
    function tick() {
      window.clearTimeout(ticking);
      var left = Math.max(0, Math.ceil((opensAt * 1000 - (Date.now() + skew)) / 1000));
      if (clock) {
        var hours = Math.floor(left / 3600);
        clock.textContent = hours + ":" + two(Math.floor(left / 60) % 60) + ":" + two(left % 60);
      }
      if (left > 0) { ticking = window.setTimeout(tick, 1000 - ((Date.now() + skew) % 1000)); }
    }
    function check() {
      fetch(documentUrl, { credentials: "omit", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (doc) {
          if (doc) { showMessage(doc.message); }
          if (doc && typeof doc.opens_at === "number" && doc.opens_at !== opensAt && doc.draw_state !== "open") {
            opensAt = doc.opens_at;   // an operator moved the opening
            showOpensAt();
            tick();
          }
          if (doc && doc.draw_state === "open") { back(doc.pre_queue_size); return; }
          plan();
        })
        .catch(plan);
    }
    // Poll rarely while the opening is far, every few seconds once it is near.
    function plan() {
      var left = opensAt * 1000 - (Date.now() + skew);
      window.setTimeout(check, Math.max(2000, Math.min(30000, left / 2)) + Math.floor(Math.random() * 1000));
    }
    showOpensAt();
    tick();
    plan();
  }

  var updatedAt = new Date();   // the figures the server rendered are from now
  // The address bar may carry the cookie check's marker: show the plain authorization URL, the
  // one a visitor may bookmark or copy.
  if (window.history && window.history.replaceState && window.location.search.indexOf("wr_cookie_check=") !== -1) {
    window.history.replaceState(null, "", authorizeUrl);
  }
  show("wr-updating", true);
  window.setTimeout(poll, delay);
}());
