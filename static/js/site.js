// Small progressive enhancements; every page works without them. Loaded from static so the
// Content-Security-Policy needs no inline script. Wording comes from data- attributes the
// templates fill in, so it is translated with the rest of the page.
(function () {
  "use strict";
  var root = document.documentElement;
  var words = document.body.dataset;
  root.classList.add("js");

  // Phones: the navigation folds behind a menu button.
  var menuButton = document.querySelector(".menu-button");
  var nav = document.getElementById("site-nav");
  if (menuButton && nav) {
    nav.setAttribute("data-open", "false");
    menuButton.hidden = false;
    menuButton.addEventListener("click", function () {
      var open = nav.getAttribute("data-open") !== "true";
      nav.setAttribute("data-open", String(open));
      menuButton.setAttribute("aria-expanded", String(open));
    });
  }

  // Date-times: shown in the reader's time zone; a tap shows the UTC time the server wrote.
  // The local time is laid out as the server's is, "7 Dec 2026, 14:26 CET" ("7 dic 2026" in
  // Spanish): the browser's own layout would be "Dec 7, 2026, 02:26 PM" beside it.
  var parts = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23", timeZoneName: "short"
  });
  function localTime(when) {
    var part = {};
    parts.formatToParts(when).forEach(function (item) { part[item.type] = item.value; });
    return part.day + " " + part.month.replace(/\.$/, "") + " " + part.year + ", " +
      part.hour + ":" + part.minute + " " + part.timeZoneName;
  }
  document.querySelectorAll("time[data-when]").forEach(function (element) {
    var when = new Date(element.getAttribute("datetime"));
    if (isNaN(when.getTime())) { return; }
    var utc = element.textContent;
    var local = localTime(when);
    var toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "when-toggle";
    toggle.setAttribute("aria-pressed", "false");
    toggle.title = words.showUtc || "";
    element.textContent = local;
    element.parentNode.insertBefore(toggle, element);
    toggle.appendChild(element);
    toggle.addEventListener("click", function () {
      var showingUtc = toggle.getAttribute("aria-pressed") !== "true";
      toggle.setAttribute("aria-pressed", String(showingUtc));
      element.textContent = showingUtc ? utc : local;
    });
  });

  // Password boxes get a show/hide button under them.
  document.querySelectorAll("input[type=password]").forEach(function (box) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "link-button password-toggle";
    button.textContent = words.showPassword || "Show password";
    button.setAttribute("aria-controls", box.id);
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", function () {
      var shown = box.type === "password";
      box.type = shown ? "text" : "password";
      button.setAttribute("aria-pressed", String(shown));
      button.textContent = shown ? (words.hidePassword || "Hide password")
                                 : (words.showPassword || "Show password");
    });
    box.insertAdjacentElement("afterend", button);
  });

  // Backup codes and signing secrets: copy them (every <code> inside the target, or the
  // target's own text), or print the page. The admin's pages name the word for "Copied." on
  // the button, since their <body> is Django's.
  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    if (!target || !navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var codes = target.querySelectorAll("code");
      var text = codes.length ? Array.prototype.map.call(codes, function (code) {
        return code.textContent;
      }).join("\n") : target.textContent;
      navigator.clipboard.writeText(text).then(function () {
        if (status) { status.textContent = button.getAttribute("data-copied") || words.copied || ""; }
      });
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();

// "Select everyone shown" ticks or clears every box of its group; it shows only with script.
(function () {
  "use strict";
  document.querySelectorAll("[data-select-all]").forEach(function (selectAll) {
    var boxes = document.querySelectorAll('input[type=checkbox][name="' +
      selectAll.getAttribute("data-select-all") + '"]');
    selectAll.hidden = false;
    selectAll.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = selectAll.checked; });
    });
    boxes.forEach(function (box) {
      box.addEventListener("change", function () {
        var ticked = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
        selectAll.checked = ticked === boxes.length;
        selectAll.indeterminate = ticked > 0 && ticked < boxes.length;
      });
    });
  });
})();
