/*
 * Control panel: reads the admin API with the key the operator pasted (kept in sessionStorage)
 * and draws one card per event with counts, a chart of the last hour and the operator actions.
 * No inline script, no third-party code: the page's CSP allows scripts from this origin only.
 */
(function () {
  "use strict";

  var KEY_STORAGE = "waitingroom.panel.admin-key";
  var SCOPE_STORAGE = "waitingroom.panel.event";  // set when the key is valid for one event only
  var SAMPLE_PREFIX = "waitingroom.panel.samples.";
  var COUNTS_EVERY_MS = 2000;
  var HISTORY_EVERY_MS = 10000;
  var WINDOW_MS = 3600 * 1000;
  var SVG_NS = "http://www.w3.org/2000/svg";

  var prefix = document.body.getAttribute("data-admin-prefix") || "/admin";
  var signInForm = document.getElementById("sign-in");
  var signOutButton = document.getElementById("sign-out");
  var eventsBox = document.getElementById("events");
  var messageBox = document.getElementById("message");
  var announcer = document.getElementById("announcer");
  var template = document.getElementById("event-template");
  var dialog = document.getElementById("confirm-reset");

  var cards = {};       // event id -> { root, history, samples, last }
  var timers = [];

  // -- admin API ------------------------------------------------------------------------------

  function adminKey() { return sessionStorage.getItem(KEY_STORAGE); }

  function api(method, path, body) {
    var init = { method: method, headers: { "Authorization": "Bearer " + adminKey(), "Accept": "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(prefix + path, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (payload) {
        if (response.status === 401) {
          signOut("The admin key was refused. Sign in again.");
          throw new Error("unauthorized");
        }
        if (!response.ok) throw new Error(payload.message || payload.error || ("HTTP " + response.status));
        return payload;
      });
    });
  }

  // -- messages -------------------------------------------------------------------------------

  function announce(text) {
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function showError(text) {
    messageBox.textContent = text;
    messageBox.hidden = !text;
  }

  // -- sign in and out ------------------------------------------------------------------------

  function signOut(reason) {
    sessionStorage.removeItem(KEY_STORAGE);
    sessionStorage.removeItem(SCOPE_STORAGE);
    timers.forEach(window.clearInterval);
    timers = [];
    cards = {};
    eventsBox.innerHTML = "";
    signOutButton.hidden = true;
    signInForm.hidden = false;
    showError(reason || "");
    document.getElementById("admin-key").focus();
  }

  signInForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var input = document.getElementById("admin-key");
    var scope = document.getElementById("admin-event");
    sessionStorage.setItem(KEY_STORAGE, input.value.trim());
    if (scope.value.trim()) sessionStorage.setItem(SCOPE_STORAGE, scope.value.trim());
    input.value = "";
    scope.value = "";
    start();
  });

  signOutButton.addEventListener("click", function () { signOut(""); announce("Signed out."); });

  function listEvents() {
    // An event's own key may not list the deployment's events: show that one event only.
    var scope = sessionStorage.getItem(SCOPE_STORAGE);
    if (!scope) return api("GET", "/events");
    return api("GET", "/events/" + encodeURIComponent(scope) + "/counts").then(function () {
      return { events: [{ event_id: scope, name: scope }] };
    });
  }

  function start() {
    listEvents().then(function (payload) {
      showError("");
      signInForm.hidden = true;
      signOutButton.hidden = false;
      eventsBox.innerHTML = "";
      cards = {};
      payload.events.forEach(addCard);
      if (!payload.events.length) eventsBox.textContent = "No events are configured.";
      refreshCounts();
      refreshHistory();
      timers.push(window.setInterval(refreshCounts, COUNTS_EVERY_MS));
      timers.push(window.setInterval(refreshHistory, HISTORY_EVERY_MS));
      announce("Signed in. " + payload.events.length + " event(s).");
    }).catch(function (error) {
      if (error.message !== "unauthorized") signOut("Could not load the events: " + error.message);
    });
  }

  // -- one card per event ---------------------------------------------------------------------

  function field(root, name) { return root.querySelector('[data-field="' + name + '"]'); }

  function addCard(info) {
    var root = template.content.firstElementChild.cloneNode(true);
    var id = info.event_id;
    root.setAttribute("data-event-id", id);
    root.setAttribute("aria-labelledby", "event-name-" + id);
    var heading = root.querySelector(".event-name");
    heading.id = "event-name-" + id;
    heading.textContent = info.name === id ? id : info.name + " (" + id + ")";
    // Give every control a unique id so labels and the accessibility tree stay unambiguous.
    root.querySelectorAll("input, select, textarea").forEach(function (control) {
      control.id = "event-" + id + "-" + control.name;
    });
    var card = { root: root, id: id, history: [], samples: loadSamples(id), last: null, windowMs: WINDOW_MS };
    root.querySelector('select[name="window"]').addEventListener("change", function (event) {
      card.windowMs = Number(event.target.value) * 1000;
      drawChart(card);
    });
    cards[id] = card;
    wireActions(card);
    eventsBox.appendChild(root);
  }

  function refreshCounts() {
    Object.keys(cards).forEach(function (id) {
      api("GET", "/events/" + encodeURIComponent(id) + "/counts").then(function (counts) {
        showCounts(cards[id], counts);
      }).catch(function (error) {
        if (error.message !== "unauthorized") showError("Could not read " + id + ": " + error.message);
      });
    });
  }

  function refreshHistory() {
    Object.keys(cards).forEach(function (id) {
      api("GET", "/panel/history?event_id=" + encodeURIComponent(id)).then(function (payload) {
        var card = cards[id];
        if (!card) return;
        var offset = Date.now() - payload.now * 1000; // server clock to browser clock
        card.history = payload.points.map(function (p) { return [p[0] * 1000 + offset, p[1]]; });
        card.waitingHistory = (payload.waiting || []).map(function (p) { return [p[0] * 1000 + offset, p[1]]; });
        drawChart(card);
      }).catch(function () { /* the counts poll reports errors */ });
    });
  }

  function showCounts(card, counts) {
    if (!card) return;
    var root = card.root;
    ["serving_counter", "last_position", "waiting", "active", "completed", "abandoned", "expired"].forEach(function (name) {
      field(root, name).textContent = String(counts[name]);
    });
    field(root, "admission_rate").textContent = formatRate(counts.admission_rate);
    var policy = counts.policy || {};
    field(root, "policy").textContent = describePolicy(policy);
    var state = field(root, "state");
    var nowSeconds = Date.now() / 1000;
    var waitingToOpen = policy.start_at !== null && policy.start_at !== undefined && nowSeconds < policy.start_at;
    var closed = policy.end_at !== null && policy.end_at !== undefined && nowSeconds >= policy.end_at;
    var opening = counts.opening || { draw_state: "none" };
    var beforeOpening = opening.draw_state === "pre_queue";
    state.textContent = counts.paused ? "paused" : beforeOpening ? "pre-queue until " + formatTime(opening.opens_at)
      : policy.strategy === "manual" ? "manual"
      : waitingToOpen ? "opens " + formatTime(policy.start_at) : closed ? "closed" : "admitting";
    state.className = "pill state " + (counts.paused || beforeOpening || waitingToOpen || closed ? "paused" : "running");
    showOpening(root, opening, card.id);
    var overrides = counts.overrides || {};
    var names = Object.keys(overrides);
    var configured = counts.configured_policy || {};
    field(root, "override-hint").textContent = names.length
      ? "Changed at run time (kept across restarts, wins over the configuration file): " + names.map(function (name) {
        if (name === "opens_at") return "opening time " + describeValue(name, opening.opens_at);
        return name + " " + describeValue(name, policy[name]) + " (file: " + describeValue(name, configured[name]) + ")";
      }).join(", ") + "."
      : "The configuration file's values apply.";
    root.querySelector('[data-role="configured"]').disabled = !names.length;
    var pauseButton = root.querySelector('[data-role="pause"]');
    pauseButton.textContent = counts.paused ? "Resume" : "Pause";
    field(root, "pause-hint").textContent = counts.paused
      ? "Automatic admission is paused. Letting visitors in by hand still works."
      : "Automatic admission is running.";
    field(root, "message-current").textContent = counts.message
      ? "Shown now: \u201c" + counts.message.text + "\u201d" +
        (counts.message.expires_at ? " until " + new Date(counts.message.expires_at * 1000).toLocaleString() : "") + "."
      : "No message.";
    if (!card.last) fillRateForm(root, policy);
    card.last = counts;
    card.samples.push([Date.now(), counts.waiting, counts.admitted !== undefined ? counts.admitted : counts.serving_counter]);
    trimSamples(card);
    saveSamples(card);
    drawChart(card);
  }

  // The opening: when, how the pre-queue is ordered, how many wait in it, and the draw's state.
  function describeOpening(opening, id) {
    if (!opening || opening.draw_state === "none") return "No opening time: the line is open.";
    var random = opening.queueing === "random_before_opening";
    var order = random ? "random draw at the opening" : "arrival order";
    if (opening.draw_state === "pre_queue") {
      return "Opens " + formatTime(opening.opens_at) + " (" + order + "). Pre-queue: " + opening.pre_queue_size +
        (random ? ". Draw: not yet; commitment " + opening.commitment + "." : ".");
    }
    return "Opened " + formatTime(opening.opened_at || opening.opens_at) + " (" + order + ")." +
      (random ? " Draw: done, " + opening.pre_queue_size + " place(s) drawn; published at /events/" + id + "/draw." : "");
  }

  function showOpening(root, opening, id) {
    field(root, "opening").textContent = describeOpening(opening, id);
    var movable = opening.draw_state === "pre_queue";
    root.querySelector('[data-role="move-opening"]').disabled = opening.draw_state === "open";
    root.querySelector('[data-role="open-now"]').disabled = !movable;
    field(root, "open-hint").textContent = opening.draw_state === "open" ? "The line is open."
      : opening.draw_state === "none" ? "No opening time to bring forward."
      : "Opens the line at once; with a random draw, draws the pre-queue now.";
  }

  // A datetime-local value (the browser's time zone) as Unix seconds, or null when empty.
  function localSeconds(value) {
    if (!value) return null;
    var time = new Date(value).getTime();
    if (isNaN(time)) throw new Error("The opening time is not a date and time.");
    return Math.floor(time / 1000);
  }

  function fillRateForm(root, policy) {
    var form = root.querySelector('[data-action="rate"]');
    form.elements.strategy.value = policy.strategy || "periodic";
    form.elements.increment_by.value = policy.increment_by;
    form.elements.every.value = policy.every;
    form.elements.max_active.value = policy.max_active;
  }

  function formatRate(perSecond) {
    var perMinute = (Number(perSecond) || 0) * 60;
    return (perMinute >= 10 ? Math.round(perMinute) : perMinute.toFixed(1)) + " / min";
  }

  function formatTime(seconds) {
    return new Date(seconds * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  function describeValue(name, value) {
    if (name === "start_at" || name === "end_at" || name === "opens_at") {
      return value === null || value === undefined ? "none" : formatTime(value);
    }
    return String(value);
  }

  function describeSchedule(policy) {
    var parts = [];
    if (policy.start_at !== null && policy.start_at !== undefined) parts.push("opens " + formatTime(policy.start_at));
    if (policy.end_at !== null && policy.end_at !== undefined) parts.push("closes " + formatTime(policy.end_at));
    return parts.length ? " Schedule: " + parts.join(", ") + "." : "";
  }

  function describePolicy(policy) {
    if (policy.strategy === "periodic") {
      return "Strategy: periodic, " + policy.increment_by + " visitor(s) every " + policy.every + " s." + describeSchedule(policy);
    }
    if (policy.strategy === "max_active") {
      return "Strategy: keep up to " + policy.max_active + " active sessions, checked every " + policy.every + " s."
        + describeSchedule(policy);
    }
    return "Strategy: manual, only operators let visitors in.";
  }

  // -- samples of the waiting count (the server keeps only the serving counter's history) -----

  function loadSamples(id) {
    try {
      var value = JSON.parse(sessionStorage.getItem(SAMPLE_PREFIX + id) || "[]");
      return Array.isArray(value) ? value : [];
    } catch (e) {
      return [];
    }
  }

  function trimSamples(card) {
    var cutoff = Date.now() - WINDOW_MS;
    while (card.samples.length && card.samples[0][0] < cutoff) card.samples.shift();
    if (card.samples.length > 2000) card.samples = card.samples.filter(function (_, i) { return i % 2 === 0; });
  }

  function saveSamples(card) {
    try {
      sessionStorage.setItem(SAMPLE_PREFIX + card.id, JSON.stringify(card.samples));
    } catch (e) { /* storage full: the chart keeps working from memory */ }
  }

  // -- the chart: inline SVG, drawn here -------------------------------------------------------

  function svg(name, attributes, text) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attributes || {}).forEach(function (key) { node.setAttribute(key, attributes[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function drawChart(card) {
    // Drawn at the box's own width, one unit per CSS pixel: the chart fills the card at any
    // width and its labels keep their size on a narrow phone instead of shrinking with it.
    var box = card.root.querySelector(".chart-box");
    var width = Math.max(280, Math.round(box.clientWidth || 640));
    var height = width < 480 ? 180 : 240, left = 44, right = 12, top = 12, bottom = 28;
    var span = card.windowMs, now = Date.now(), from = now - span;
    var admitted = card.history.length ? card.history.slice() : card.samples.map(function (s) { return [s[0], s[2]]; });
    // The server's samples (kept while no panel was open), then this tab's newer ones.
    var served = card.waitingHistory || [];
    var after = served.length ? served[served.length - 1][0] : -Infinity;
    var waiting = served.concat(card.samples.filter(function (s) { return s[0] > after; })
      .map(function (s) { return [s[0], s[1]]; }));
    var maxValue = 1;
    admitted.concat(waiting).forEach(function (p) { if (p[1] > maxValue) maxValue = p[1]; });
    maxValue = niceCeiling(maxValue);
    function x(t) { return left + (Math.max(t, from) - from) / span * (width - left - right); }
    function y(v) { return top + (1 - v / maxValue) * (height - top - bottom); }

    var last = card.last || {};
    var summary = "Now " + (last.waiting || 0) + " waiting and " +
      (last.admitted !== undefined ? last.admitted : (last.serving_counter || 0)) + " admitted in total.";
    var chart = svg("svg", {
      viewBox: "0 0 " + width + " " + height, role: "img", "class": "chart-svg",
      "aria-label": "Chart of waiting and admitted visitors over the last " +
        (span >= WINDOW_MS ? "hour" : Math.round(span / 60000) + " minutes") + ". " + summary
    });
    [0, 0.5, 1].forEach(function (fraction) {
      var value = Math.round(maxValue * fraction);
      chart.appendChild(svg("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), "class": "grid" }));
      chart.appendChild(svg("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end", "class": "tick" }, String(value)));
    });
    var minutes = Math.round(span / 60000);
    [[from, "-" + minutes + " min"], [from + span / 2, "-" + minutes / 2 + " min"], [now, "now"]].forEach(function (mark, i) {
      chart.appendChild(svg("text", {
        x: x(mark[0]), y: height - 8, "class": "tick", "text-anchor": ["start", "middle", "end"][i]
      }, mark[1]));
    });
    chart.appendChild(svg("path", { d: stepPath(admitted, x, y, now), "class": "line admitted" }));
    chart.appendChild(svg("path", { d: linePath(waiting, x, y), "class": "line waiting" }));
    box.innerHTML = "";
    box.appendChild(chart);
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(function () { Object.keys(cards).forEach(function (id) { drawChart(cards[id]); }); }, 150);
  });

  function niceCeiling(value) {
    var magnitude = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * magnitude >= value) return steps[i] * magnitude;
    return 10 * magnitude;
  }

  function linePath(points, x, y) {
    return points.map(function (p, i) { return (i ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1); }).join(" ");
  }

  function stepPath(points, x, y, now) {
    if (!points.length) return "";
    var d = "M" + x(points[0][0]).toFixed(1) + " " + y(points[0][1]).toFixed(1);
    for (var i = 1; i < points.length; i++) {
      d += " H" + x(points[i][0]).toFixed(1) + " V" + y(points[i][1]).toFixed(1);
    }
    return d + " H" + x(now).toFixed(1);
  }

  // -- actions --------------------------------------------------------------------------------

  function wireActions(card) {
    var root = card.root, id = card.id, path = "/events/" + encodeURIComponent(id);
    var confirmation = field(root, "confirmation");
    // What the last action did, in the card itself (screen readers also hear it once).
    function confirm(text) {
      confirmation.textContent = "Done at " + new Date().toLocaleTimeString() + ": " + text;
      confirmation.hidden = false;
    }
    function on(action, handler) {
      var form = root.querySelector('[data-action="' + action + '"]');
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var button = form.querySelector("button[type=submit]");
        button.disabled = true;
        Promise.resolve().then(function () { return handler(form); }).then(function (text) {
          if (text) { showError(""); announce(text); confirm(text); }
          refreshCounts();
          refreshHistory();
        }).catch(function (error) {
          if (error.message !== "unauthorized") showError(error.message);
        }).then(function () { button.disabled = false; });
      });
    }

    on("admit", function (form) {
      var count = parseInt(form.elements.count.value, 10);
      return api("POST", "/increment_serving_counter", { event_id: id, increment_by: count }).then(function (r) {
        return "Serving counter of " + id + " is now " + r.serving_counter + ".";
      });
    });

    on("pause", function () {
      var paused = card.last && card.last.paused;
      return api("POST", path + (paused ? "/resume" : "/pause")).then(function (r) {
        return "Automatic admission of " + id + (r.paused ? " paused." : " resumed.");
      });
    });

    on("rate", function (form) {
      var body = { strategy: form.elements.strategy.value };
      ["increment_by", "max_active"].forEach(function (name) {
        if (form.elements[name].value !== "") body[name] = parseInt(form.elements[name].value, 10);
      });
      if (form.elements.every.value !== "") body.every = Number(form.elements.every.value);
      return api("POST", path + "/admission", body).then(function (r) {
        fillRateForm(root, r.policy);
        return describePolicy(r.policy);
      });
    });

    on("opening", function (form) {
      var opensAt = localSeconds(form.elements.opens_at.value);
      return api("POST", path + "/opening", { opens_at: opensAt }).then(function (r) {
        return "Opening of " + id + ": " + describeOpening(r.opening, id);
      });
    });

    on("open-now", function () {
      return api("POST", path + "/open").then(function (r) {
        return "Opened " + id + " now. " + describeOpening(r.opening, id);
      });
    });

    on("message", function (form) {
      var body = { text: form.elements.text.value };
      var minutes = form.elements.minutes.value;
      if (minutes !== "") body.expires_at = Math.floor(Date.now() / 1000) + parseInt(minutes, 10) * 60;
      return api("POST", path + "/message", body).then(function (r) {
        return r.message ? "Message shown to the line of " + id + "." : "Message of " + id + " cleared.";
      });
    });

    on("configured", function () {
      var body = {};
      Object.keys((card.last && card.last.overrides) || {}).forEach(function (name) { body[name] = null; });
      if (!Object.keys(body).length) return "The configuration file's values already apply.";
      return api("POST", path + "/admission", body).then(function (r) {
        fillRateForm(root, r.policy);
        return "Back to the configured values. " + describePolicy(r.policy);
      });
    });

    on("end", function (form) {
      var body = { event_id: id, jti: form.elements.jti.value.trim(), status: form.elements.status.value };
      return api("POST", "/sessions/end", body).then(function (r) {
        form.elements.jti.value = "";
        return "Session marked " + r.status + ".";
      });
    });

    on("reset", function (form) {
      // The new opening time goes with the reset, in the same step: written after it, a draw
      // whose configured opening has passed would already have opened, empty.
      var opensAt = localSeconds(form.elements.opens_at.value);
      var body = opensAt === null ? { event_id: id } : { event_id: id, opens_at: opensAt };
      return confirmReset(id).then(function (confirmed) {
        if (!confirmed) return "Reset cancelled.";
        return api("POST", "/reset_initial_state", body).then(function () {
          card.samples = [];
          saveSamples(card);
          form.elements.opens_at.value = "";
          return "Event " + id + " was reset" + (opensAt === null ? "." : "; it opens " + formatTime(opensAt) + ".");
        });
      });
    });
  }

  function confirmReset(id) {
    document.getElementById("confirm-text").textContent =
      "Every place in line, session and counter of " + id + " will be forgotten. Visitors in line lose their place.";
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function handler() {
        dialog.removeEventListener("close", handler);
        resolve(dialog.returnValue === "reset");
      });
      dialog.returnValue = "cancel";
      dialog.showModal();
    });
  }

  // -- go ---------------------------------------------------------------------------------------

  if (adminKey()) {
    start();
  } else {
    signInForm.hidden = false;
  }
})();
