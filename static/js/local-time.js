// Show audit times in the reader's own time zone; the UTC time stays in the title (on hover).
(function () {
  "use strict";
  var format = { year: "numeric", month: "short", day: "numeric", hour: "2-digit",
                 minute: "2-digit", timeZoneName: "short" };
  document.querySelectorAll("time[data-local-time]").forEach(function (element) {
    var when = new Date(element.getAttribute("datetime"));
    if (!isNaN(when.getTime())) {
      element.textContent = when.toLocaleString(undefined, format);
    }
  });
})();
