(function () {
  "use strict";
  var site = window.SampleSite;
  var form = document.getElementById("checkout-form");
  var result = document.getElementById("result");
  var info = document.getElementById("session-info");
  var startOver = document.getElementById("start-over");
  var tokens = site.tokens();

  function minutesLeft() {
    return Math.max(0, Math.round((tokens.expires_at - Date.now()) / 60000));
  }

  if (!tokens) {
    info.textContent = "You are not signed in. Please join the line first.";
    startOver.hidden = false;
    return;
  }

  var claims = tokens.claims || {};
  var badge = document.getElementById("signed-in");
  badge.textContent = "Admitted visitor #" + claims.queue_position;
  badge.hidden = false;
  info.textContent = "You were number " + claims.queue_position + " in line. Your session ends in about " +
    minutesLeft() + " minutes.";
  form.hidden = false;

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = document.getElementById("buy");
    button.disabled = true;
    result.textContent = "Placing your order\u2026";
    site.callApi("/checkout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ quantity: Number(document.getElementById("quantity").value) })
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, status: response.status, body: body }; });
    }).then(function (answer) {
      if (!answer.ok) throw new Error(answer.body.message || ("the shop answered " + answer.status));
      var order = answer.body;
      form.hidden = true;
      result.innerHTML = "";
      var heading = document.createElement("h2");
      heading.id = "order-confirmed";
      heading.textContent = "Order confirmed";
      var text = document.createElement("p");
      text.textContent = "Order " + order.order_id + ": " + order.quantity + " ticket(s). Thank you!";
      result.appendChild(heading);
      result.appendChild(text);
      site.signOut();
      startOver.hidden = false;
    }).catch(function (error) {
      button.disabled = false;
      result.textContent = "The checkout failed: " + error.message;
    });
  });
})();
