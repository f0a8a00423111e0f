// The single sign-on provider's page: only the chosen kind's fields show. Without this script
// every kind's fields show under their own heading, and the server ignores the other kinds'.
// The admin loads it in the page's head, so it waits for the form.
(function () {
  "use strict";
  function start() {
    var kind = document.getElementById("id_kind");
    var sections = document.querySelectorAll("fieldset.sso-kind");
    if (!kind || !sections.length) { return; }
    function show() {
      sections.forEach(function (section) {
        section.hidden = !section.classList.contains("sso-kind-" + kind.value);
      });
    }
    kind.addEventListener("change", show);
    show();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
