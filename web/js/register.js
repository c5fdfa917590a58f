// Registration dialogs for the three device types. Used by the setup page and by settings.
// Each resolves through onDone({device, recovery_codes?}) once the device exists.

import { api, isCancelled } from "./api.js";
import { errorMessage } from "./errors.js";
import { h, icon, field, errorBox, busy, openDialog, copyText, mmss } from "./ui.js";
import { createCredential, supported as webauthnSupported } from "./webauthn.js";

function nameField(hint) {
  return field({ label: "Name", name: "device-name", optional: true, maxlength: 64, autocomplete: "off", hint });
}

function qrImage(svg, alt) {
  // Rendered through <img> so markup in the SVG can never run in this page.
  const src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  return h("div", { class: "qr" }, h("img", { src, alt, width: 168, height: 168 }));
}

function groupSecret(secret) {
  return secret.replace(/\s+/g, "").replace(/(.{4})/g, "$1 ").trim();
}

/** Ticks every second until `expiresAt`; calls render(secondsLeft). Returns stop(). */
function countdown(expiresAt, render) {
  const end = new Date(expiresAt).getTime();
  let timer = null;
  const tick = () => {
    const left = Math.max(0, Math.round((end - Date.now()) / 1000));
    render(left);
    if (left <= 0 && timer) { clearInterval(timer); timer = null; }
  };
  tick();
  timer = setInterval(tick, 1000);
  return () => { if (timer) clearInterval(timer); timer = null; };
}

function isExpiry(err) {
  return err && (err.code === "expired" || err.code === "not_found" || err.code === "registration_used");
}

// Authenticator app --------------------------------------------------------------------------

export function registerTotp({ onDone }) {
  const content = h("div", {}, h("p", { class: "loading" }, "Preparing your setup key…"));
  let stop = () => {};
  const dlg = openDialog({ title: "Add an authenticator app", content, onClose: () => stop() });
  const origClose = dlg.close;

  const start = async () => {
    const err = errorBox();
    content.replaceChildren(h("p", { class: "loading" }, "Preparing your setup key…"));
    let reg;
    try {
      reg = await api.totpStart();
    } catch (e) {
      if (isCancelled(e)) { origClose(); return; } // the password was not confirmed: nothing to set up
      err.set(errorMessage(e));
      content.replaceChildren(err.el, h("div", { class: "actions end" },
        h("button", { type: "button", class: "btn btn-secondary", onclick: origClose }, "Close")));
      return;
    }
    const secret = reg.secret;
    const code = field({ label: "6-digit code from the app", name: "totp-code", inputmode: "numeric",
      autocomplete: "one-time-code", cls: "code-input", maxlength: 6, pattern: "[0-9]{6}", required: true });
    const name = nameField("Helps you tell your devices apart, e.g. “Work phone”.");
    const expiry = h("span", { class: "hint" });
    const submit = h("button", { type: "submit", class: "btn" }, "Add authenticator app");
    const form = h("form", { novalidate: true },
      h("ol", { class: "steps" },
        h("li", {}, "Open your authenticator app and choose to add an account."),
        h("li", {}, "Scan the QR code, or type the setup key."),
        h("li", {}, "Enter the 6-digit code the app shows.")),
      h("div", { class: "qr-wrap" },
        qrImage(reg.qr_svg, "QR code for your authenticator app"),
        h("div", { class: "qr-side" },
          h("span", { class: "label", id: "totp-secret-label" }, "Setup key"),
          h("div", { class: "secret" },
            h("code", { "aria-labelledby": "totp-secret-label", dataset: { testid: "totp-secret", secret } }, groupSecret(secret)),
            h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": "Copy setup key",
              onclick: () => copyText(secret, "Setup key copied") }, icon("copy"))),
          h("p", { class: "hint" }, "Time-based, 6 digits, every 30 seconds."),
          expiry)),
      err.el, code.wrap, name.wrap,
      h("div", { class: "actions end" },
        h("button", { type: "button", class: "btn btn-secondary", onclick: origClose }, "Cancel"), submit));
    stop = countdown(reg.expires_at, (left) => {
      expiry.textContent = left > 0 ? `This setup expires in ${mmss(left)}.` : "This setup has expired.";
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      err.set("");
      const value = code.input.value.replace(/\s+/g, "");
      if (!/^\d{6}$/.test(value)) {
        code.input.setAttribute("aria-invalid", "true");
        err.set("Enter the 6 digits your authenticator app shows.");
        code.input.focus();
        return;
      }
      code.input.removeAttribute("aria-invalid");
      busy(submit, async () => {
        try {
          const res = await api.totpConfirm(reg.registration_id, value, name.input.value.trim() || undefined);
          stop();
          origClose();
          onDone(res);
        } catch (e) {
          if (isExpiry(e)) {
            stop();
            content.replaceChildren(expiredPanel("This setup expired before it was confirmed.", start, origClose));
            return;
          }
          err.set(errorMessage(e, "totp"));
          code.input.value = "";
          code.input.setAttribute("aria-invalid", "true");
          code.input.focus();
        }
      });
    });
    content.replaceChildren(form);
    code.input.focus();
  };
  start();
  return dlg;
}

function expiredPanel(text, restart, close) {
  return h("div", {},
    h("div", { class: "notice warn" }, icon("clock"), h("p", {}, text)),
    h("div", { class: "actions end" },
      h("button", { type: "button", class: "btn btn-secondary", onclick: close }, "Cancel"),
      h("button", { type: "button", class: "btn", onclick: restart }, "Start again")));
}

// Security key or passkey ---------------------------------------------------------------------

export function registerWebauthn({ onDone }) {
  const err = errorBox();
  const name = nameField("e.g. “YubiKey 5C” or “Laptop passkey”.");
  const status = h("p", { class: "status-line", hidden: true, role: "status" }, h("span", { class: "pulse" }), "Follow your browser's prompt: touch your key or confirm on your device.");
  const submit = h("button", { type: "submit", class: "btn" }, icon("key"), "Continue");
  const form = h("form", { novalidate: true },
    err.el,
    h("p", {}, "Use a hardware security key (USB or NFC), or a passkey kept by this device, your phone or your password manager."),
    name.wrap,
    status,
    h("div", { class: "actions end" },
      h("button", { type: "button", class: "btn btn-secondary", onclick: () => dlg.close() }, "Cancel"), submit));
  const dlg = openDialog({ title: "Add a security key or passkey", content: form });
  if (!webauthnSupported()) {
    err.set("This browser can't use security keys or passkeys. Try a current version of Chrome, Edge, Firefox or Safari.");
    submit.disabled = true;
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    err.set("");
    busy(submit, async () => {
      const label = name.input.value.trim() || undefined;
      let step = "start";
      try {
        const reg = await api.webauthnStart(label);
        status.hidden = false;
        step = "create";
        const credential = await createCredential(reg.publicKey);
        step = "confirm";
        const res = await api.webauthnConfirm(reg.registration_id, credential, label);
        dlg.close();
        onDone(res);
      } catch (e) {
        status.hidden = true;
        err.set(errorMessage(e, step === "create" ? "register" : undefined));
      }
    });
  });
  return dlg;
}

// Push device -----------------------------------------------------------------------------------

const POLL_MS = 2000;

export function registerPush({ onDone }) {
  const err = errorBox();
  const name = nameField("e.g. “My phone”.");
  const submit = h("button", { type: "submit", class: "btn" }, "Show QR code");
  const form = h("form", { novalidate: true },
    err.el,
    h("p", {}, "Install the Latchkey push app on your phone. You'll scan a QR code with it, and it will then ask you to approve each sign-in by typing a number."),
    name.wrap,
    h("div", { class: "actions end" },
      h("button", { type: "button", class: "btn btn-secondary", onclick: () => dlg.close() }, "Cancel"), submit));
  const content = h("div", {}, form);
  let stopCountdown = () => {};
  let pollTimer = null;
  let closed = false;
  const stopAll = () => {
    stopCountdown();
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
  };
  const dlg = openDialog({ title: "Add a push device", content, onClose: () => { closed = true; stopAll(); } });

  const begin = async (label) => {
    let known;
    try {
      const before = await api.mfa();
      known = new Set(before.devices.filter((d) => d.type === "push").map((d) => d.id));
    } catch (e) {
      err.set(errorMessage(e));
      return;
    }
    let reg;
    try {
      reg = await api.pushStart(label);
    } catch (e) {
      err.set(errorMessage(e));
      return;
    }
    const countdownEl = h("span", {});
    const waiting = h("p", { class: "status-line", role: "status" }, h("span", { class: "pulse" }), "Waiting for your device to finish…");
    const uri = reg.registration_uri;
    const panel = h("div", {},
      h("ol", { class: "steps" },
        h("li", {}, "Open the Latchkey push app and choose “Add account”."),
        h("li", {}, "Scan this QR code. No camera? Copy the link below into the app.")),
      h("div", { class: "qr-wrap" },
        qrImage(reg.qr_svg, "QR code for the Latchkey push app"),
        h("div", { class: "qr-side" },
          h("span", { class: "label", id: "push-uri-label" }, "Registration link"),
          h("div", { class: "secret" },
            h("code", { class: "uri", "aria-labelledby": "push-uri-label", dataset: { testid: "push-uri" } }, uri),
            h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": "Copy registration link",
              onclick: () => copyText(uri, "Registration link copied") }, icon("copy"))),
          h("p", { class: "hint" }, countdownEl))),
      waiting,
      h("div", { class: "actions end" },
        h("button", { type: "button", class: "btn btn-secondary", onclick: () => dlg.close() }, "Cancel")));
    content.replaceChildren(panel);
    panel.querySelector("button").focus();

    let expired = false;
    stopCountdown = countdown(reg.expires_at, (left) => {
      countdownEl.textContent = left > 0 ? `The code expires in ${mmss(left)}.` : "The code has expired.";
      if (left <= 0 && !expired) {
        expired = true;
        stopAll();
        content.replaceChildren(expiredPanel("The QR code expired before a device used it.", () => restart(), () => dlg.close()));
      }
    });

    const poll = async () => {
      if (closed || expired) return;
      try {
        const mfa = await api.mfa();
        const added = mfa.devices.find((d) => d.type === "push" && !known.has(d.id));
        if (added) {
          stopAll();
          dlg.close();
          // The server's clock: a registration lives 10 minutes from its start.
          onDone({ device: added, push: true, startedAt: Date.parse(reg.expires_at) - 10 * 60 * 1000 });
          return;
        }
      } catch (e) {
        if (e.status === 401) return; // session over: the app has already moved to sign-in
      }
      if (!closed && !expired) pollTimer = setTimeout(poll, POLL_MS);
    };
    pollTimer = setTimeout(poll, POLL_MS);
  };

  const restart = () => {
    content.replaceChildren(form);
    err.set("");
    name.input.focus();
  };

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    err.set("");
    busy(submit, () => begin(name.input.value.trim() || undefined));
  });
  return dlg;
}

export function startRegistration(type, opts) {
  if (type === "totp") return registerTotp(opts);
  if (type === "webauthn") return registerWebauthn(opts);
  if (type === "push") return registerPush(opts);
  throw new Error(`unknown method ${type}`);
}

/**
 * A push device enrolls through the app, so when it is the first device the recovery codes made
 * for it never reach this page. Returns a fresh set to show (the unseen ones are replaced) when
 * there are none, or when they were made during this enrollment; else null. Regenerating
 * needs a re-authenticated session, so this may ask for the password (api.js); when that is
 * cancelled it throws the "reauthentication_cancelled" ApiError and the caller says what to do.
 */
export async function codesAfterPushEnroll(res) {
  if (!res || !res.push) return null;
  const mfa = await api.mfa();
  const rc = mfa.recovery_codes || { remaining: 0 };
  const madeNow = rc.generated_at && Date.parse(rc.generated_at) >= res.startedAt - 60 * 1000;
  if (rc.remaining > 0 && !madeNow) return null;
  return api.regenerateCodes();
}
