// Submits the form_post authorization response as soon as the page is parsed (no inline
// script, so the page's Content-Security-Policy needs no 'unsafe-inline').
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("wr-form-post");
  if (form) {
    form.submit();
  }
});
