// Passkeys in the browser: WebAuthn's create() and get(), their answers posted as a hidden form
// field. No inline script anywhere: options come from <script type="application/json"> blocks
// (json_script) or, on the sign-in page, from a POST to the options address.
(function () {
  "use strict";

  function fromBase64url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: fromBase64url(item.id) });
    });
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = fromBase64url(json.challenge);
    options.user = Object.assign({}, json.user, { id: fromBase64url(json.user.id) });
    options.excludeCredentials = descriptors(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = fromBase64url(json.challenge);
    options.allowCredentials = descriptors(json.allowCredentials);
    return options;
  }

  function answer(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: { clientDataJSON: toBase64url(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      if (response.userHandle) { json.response.userHandle = toBase64url(response.userHandle); }
    }
    return JSON.stringify(json);
  }

  function optionsIn(form) {
    var block = document.getElementById(form.getAttribute("data-passkey-options"));
    return JSON.parse(block.textContent);
  }

  function tell(form, message) {
    var status = form.querySelector("[data-passkey-status]");
    if (status) { status.textContent = message; }
  }

  function submitWith(form, credential) {
    form.querySelector("input[name=credential]").value = answer(credential);
    form.submit();
  }

  function failed(form, error) {
    if (error && error.name === "AbortError") { return; }
    tell(form, form.getAttribute(
      error && error.name === "InvalidStateError" ? "data-passkey-duplicate" : "data-passkey-failed"));
  }

  if (!window.PublicKeyCredential) {
    document.querySelectorAll("[data-passkey-form]").forEach(function (form) {
      tell(form, form.getAttribute("data-passkey-unsupported"));
      // The proof page's code button still works without passkeys.
      var buttons = form.getAttribute("data-passkey-form") === "proof" ? "button[name=use_passkey]" : "button";
      form.querySelectorAll(buttons).forEach(function (button) { button.disabled = true; });
    });
    return;
  }

  // Registering: the form posts the name with the new passkey.
  document.querySelectorAll("form[data-passkey-form=register]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.querySelector("input[name=credential]").value) { return; }
      event.preventDefault();
      if (!form.reportValidity()) { return; }
      navigator.credentials.create({ publicKey: creationOptions(optionsIn(form)) })
        .then(function (credential) { submitWith(form, credential); })
        .catch(function (error) { failed(form, error); });
    });
  });

  // The second step: the person's own passkeys.
  document.querySelectorAll("form[data-passkey-form=verify]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.querySelector("input[name=credential]").value) { return; }
      event.preventDefault();
      navigator.credentials.get({ publicKey: requestOptions(optionsIn(form)) })
        .then(function (credential) { submitWith(form, credential); })
        .catch(function (error) { failed(form, error); });
    });
  });

  // The proof page: its passkey button asks for the passkey, and the form goes with the
  // password and the answer; its code button (the default one, for Enter) posts the code.
  document.querySelectorAll("form[data-passkey-form=proof]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!event.submitter || event.submitter.name !== "use_passkey") { return; }
      if (form.querySelector("input[name=credential]").value) { return; }
      event.preventDefault();
      navigator.credentials.get({ publicKey: requestOptions(optionsIn(form)) })
        .then(function (credential) { submitWith(form, credential); })
        .catch(function (error) { failed(form, error); });
    });
  });

  // Signing in with a passkey alone: by a button everywhere, and in the email field's autofill
  // (conditional mediation) where the browser can and the page allows it.
  document.querySelectorAll("form[data-passkey-form=sign-in]").forEach(function (form) {
    var waiting = null;

    function fetchOptions() {
      return fetch(form.getAttribute("data-passkey-options-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": form.querySelector("input[name=csrfmiddlewaretoken]").value }
      }).then(function (response) {
        if (!response.ok) { throw new Error("options"); }
        return response.json();
      });
    }

    function ask(mediation) {
      if (waiting) { waiting.abort(); }
      waiting = new AbortController();
      var signal = waiting.signal;
      return fetchOptions().then(function (json) {
        var request = { publicKey: requestOptions(json), signal: signal };
        if (mediation) { request.mediation = mediation; }
        return navigator.credentials.get(request);
      }).then(function (credential) {
        if (credential) { submitWith(form, credential); }
      });
    }

    form.addEventListener("submit", function (event) {
      if (form.querySelector("input[name=credential]").value) { return; }
      event.preventDefault();
      ask(null).catch(function (error) { failed(form, error); });
    });

    if (form.hasAttribute("data-passkey-autofill") && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (available) { ask("conditional").catch(function () {}); }
      });
    }
  });
})();
