(function () {
  "use strict";
  var site = window.SampleSite;
  var button = document.getElementById("get-tickets");
  var status = document.getElementById("status");

  site.loadConfig().then(function (config) {
    if (config.event_name) {
      document.getElementById("event-title").textContent = config.event_name;
      document.title = config.event_name + " - Sample shop";
    }
    if (config.sale_opens_at) {
      var opens = new Date(config.sale_opens_at);
      if (!isNaN(opens.getTime())) {
        var when = opens.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" });
        document.getElementById("sale-opens").textContent = opens > new Date()
          ? "The ticket sale opens at " + when + ". Join the line now to get your place."
          : "The ticket sale opened at " + when + ". Every visitor gets a fair place in line.";
      }
    }
  }).catch(function (error) {
    status.textContent = "The shop is not configured: " + error.message;
  });

  button.addEventListener("click", function () {
    button.disabled = true;
    status.textContent = "Taking you to the waiting room\u2026";
    site.signIn("checkout.html").catch(function (error) {
      button.disabled = false;
      status.textContent = "Could not reach the waiting room: " + error.message;
    });
  });
})();
