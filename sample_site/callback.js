(function () {
  "use strict";
  var status = document.getElementById("status");
  window.SampleSite.handleCallback().then(function (result) {
    status.textContent = "Signed in. Taking you to the checkout\u2026";
    window.location.replace(result.return_to || "checkout.html");
  }).catch(function (error) {
    status.textContent = "Signing in failed: " + error.message;
    document.getElementById("retry").hidden = false;
  });
})();
