/* The draw check page (/events/<id>/draw/verify): the visitor's browser recomputes the event's
   random draw from its public draw document, with the visitor's own tools, not the server's word.

   It checks that the revealed secret is the one committed to before the opening (SHA-256 of the
   secret's hex text), that the list names each ticket once and holds as many places as the draw,
   and gives the visitor's ticket its position: the same keyed permutation as core/draw.py (a
   six-round Feistel network over 2*h bits, round function = the first 8 hex digits of SHA-1 over
   "<secret>:<size>:<round>:<value>" masked to h bits, cycle walking into 1..size). WebCrypto's digest
   does the hashing. BigInt keeps every value exact up to the largest draw (2**52 places).

   window.WaitingroomDraw exposes the permutation (permute, halfBits, commitment), so anyone can
   recompute other positions from the browser console. External file: the page's
   Content-Security-Policy allows no inline script. */
(function () {
  "use strict";
  var ALGORITHM = "feistel-sha1-6-size-keyed-cycle-walk";
  var ROUNDS = 6;
  var MIN_HALF_BITS = 3;

  function hex(buffer) {
    var bytes = new Uint8Array(buffer);
    var out = "";
    for (var i = 0; i < bytes.length; i++) { out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16); }
    return out;
  }

  function digest(name, text) {
    return window.crypto.subtle.digest(name, new TextEncoder().encode(text)).then(hex);
  }

  // SHA-256 of the secret's hex text, as lowercase hex (core.draw.commitment).
  function commitment(secret) { return digest("SHA-256", secret); }

  // The least h >= 3 with 4**h > size (core.draw.half_bits).
  function halfBits(size) {
    var h = MIN_HALF_BITS;
    var n = BigInt(size);
    while ((1n << BigInt(2 * h)) <= n) { h += 1; }
    return h;
  }

  function roundValue(secret, size, round, value, mask) {
    return digest("SHA-1", secret + ":" + size + ":" + round + ":" + value.toString()).then(function (d) {
      return BigInt("0x" + d.slice(0, 8)) & mask;
    });
  }

  async function feistel(secret, size, h, x) {
    var bits = BigInt(h);
    var mask = (1n << bits) - 1n;
    var left = x >> bits;
    var right = x & mask;
    for (var r = 0; r < ROUNDS; r++) {
      var f = await roundValue(secret, size, r, right, mask);
      var next = left ^ f;
      left = right;
      right = next;
    }
    return (left << bits) | right;
  }

  // The position (1..size) of arrival index `index` (1..size) (core.draw.permute).
  async function permute(secret, size, index) {
    var n = BigInt(size);
    var i = BigInt(index);
    if (n < 1n || i < 1n || i > n) { throw new RangeError(index + " is outside 1.." + size); }
    var h = halfBits(size);
    var x = await feistel(secret, n.toString(), h, i - 1n);
    while (x >= n) { x = await feistel(secret, n.toString(), h, x); }
    return Number(x + 1n);
  }

  window.WaitingroomDraw = { ALGORITHM: ALGORITHM, permute: permute, halfBits: halfBits, commitment: commitment };

  var main = document.getElementById("wr-draw");
  if (!main || !window.fetch || !window.crypto || !window.crypto.subtle || typeof BigInt === "undefined") { return; }
  var lang = document.documentElement.lang || undefined;
  var numbers = window.Intl ? new Intl.NumberFormat(lang) : null;
  function num(value) { return numbers ? numbers.format(value) : String(value); }

  function show(id, visible) {
    var el = document.getElementById(id);
    if (el) { el.hidden = !visible; }
  }
  function setText(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = String(value); }
  }
  function when(seconds) {
    return typeof seconds === "number" ? new Date(seconds * 1000).toLocaleString(lang) : "";
  }

  // The list's problems, the same checks as core.draw.verify (holes, null, are no ticket).
  function listProblems(doc) {
    var seen = new Set();
    var duplicate = false;
    doc.tickets.forEach(function (t) {
      if (t === null) { return; }
      if (seen.has(t)) { duplicate = true; }
      seen.add(t);
    });
    return { duplicate: duplicate, sizeMismatch: doc.size !== doc.tickets.length };
  }

  function result(id) {
    ["wr-draw-loading", "wr-draw-not-open", "wr-draw-ok", "wr-draw-bad-secret", "wr-draw-bad-list",
      "wr-draw-unreadable"].forEach(function (name) { show(name, name === id); });
  }

  async function check(doc) {
    setText("wr-draw-commitment", doc.commitment || "");
    if (doc.algorithm !== ALGORITHM || typeof doc.commitment !== "string") { result("wr-draw-unreadable"); return; }
    if (doc.state !== "open" || typeof doc.secret !== "string" || !Array.isArray(doc.tickets)) {
      setText("wr-draw-opens-at", when(doc.opens_at));
      result("wr-draw-not-open");
      return;
    }
    setText("wr-draw-secret", doc.secret);
    setText("wr-draw-size", num(doc.tickets.length));
    show("wr-draw-revealed", true);
    show("wr-draw-size-row", true);
    if (await commitment(doc.secret) !== doc.commitment.toLowerCase()) { result("wr-draw-bad-secret"); return; }
    var problems = listProblems(doc);
    if (problems.duplicate || problems.sizeMismatch) { result("wr-draw-bad-list"); return; }
    result("wr-draw-ok");
    var ticket = main.getAttribute("data-ticket");
    if (!ticket) { return; }
    var index = doc.tickets.indexOf(ticket) + 1;
    if (index === 0) { show("wr-ticket-absent", true); return; }
    var position = await permute(doc.secret, doc.tickets.length, index);
    setText("wr-ticket-arrival", num(index));
    setText("wr-ticket-position", num(position));
    show("wr-ticket-found", true);
  }

  // The document is public and the same for everyone: no cookie goes with it.
  fetch(main.getAttribute("data-draw-url"), { credentials: "omit", headers: { "Accept": "application/json" } })
    .then(function (response) {
      if (!response.ok) { throw new Error("status " + response.status); }
      return response.json();
    })
    .then(check)
    .catch(function () { result("wr-draw-unreadable"); });
}());
