// Names for Django admin widgets that its own scripts draw without one (axe: "aria-prohibited-
// attr", "aria-input-field-name"). The widgets are drawn after the page loads (the pickers on
// "load", the person search when jQuery is ready, and again in each added inline), so a
// MutationObserver names each one as it appears. Loaded from static: no inline script under the
// Content-Security-Policy.
(function () {
  "use strict";

  function nameWidgets(root) {
    // The pickers' magnifier: a <span> with aria-label but no role may not carry a name. As an
    // image it can, and the label it sits in then names the filter box beside it.
    root.querySelectorAll("span.search-label-icon[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
    // The person search (select2): its combobox is named by the chosen value only, so with
    // nothing chosen it has no name. The field's own label comes first.
    root.querySelectorAll("select.admin-autocomplete").forEach(function (select) {
      var label = document.querySelector('label[for="' + select.id + '"]');
      var combobox = select.parentNode.querySelector(".select2-selection[role=combobox]");
      if (!label || !combobox || combobox.dataset.named) return;
      label.id = label.id || select.id + "_label";
      var shown = combobox.getAttribute("aria-labelledby");
      combobox.setAttribute("aria-labelledby", label.id + (shown ? " " + shown : ""));
      // The chosen value inside it is a read-only textbox, which needs a name of its own.
      var rendered = shown && document.getElementById(shown);
      if (rendered) rendered.setAttribute("aria-label", label.textContent.replace(/:\s*$/, ""));
      combobox.dataset.named = "yes";
    });
  }

  nameWidgets(document);
  new MutationObserver(function () {
    nameWidgets(document);
  }).observe(document.body, { childList: true, subtree: true });
})();
