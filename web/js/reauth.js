// "Confirm your password": the dialog the API wrapper (api.js) opens when an action answers
// 403 reauthentication_required. It calls the reauthenticate route it is given and settles
// once: true after a right password, false when the person cancels (or the page moves on).
// The password lives in the input and in the one request body only: it is never stored,
// logged or handed back, and the dialog (with its input) is removed when it closes.

import { errorMessage } from "./errors.js";
import { h, icon, field, errorBox, busy, openDialog } from "./ui.js";

let open = null; // one dialog at a time: concurrent 403s share it

// The control that started the action. By the time the server asks for the password it is
// usually disabled while busy, and Chrome then moves focus to <body>: remember the last one.
let lastFocused = null;
document.addEventListener("focusin", (ev) => { lastFocused = ev.target; }, true);

/** Shows the dialog; `reauthenticate(password)` is the API call. Resolves true or false. */
export function confirmPassword(reauthenticate) {
  if (!open) open = ask(reauthenticate).finally(() => { open = null; });
  return open;
}

function ask(reauthenticate) {
  return new Promise((resolve) => {
    const active = document.activeElement;
    const opener = active && active !== document.body ? active : lastFocused;
    let confirmed = false;
    const err = errorBox();
    const password = field({ label: "Your password", name: "password", type: "password",
      autocomplete: "current-password", required: true });
    const submit = h("button", { type: "submit", class: "btn" }, "Confirm");
    const cancel = h("button", { type: "button", class: "btn btn-secondary" }, "Cancel");
    // The account's name, hidden, so a password manager knows which password to offer.
    const account = (document.getElementById("account-name") || {}).textContent || "";
    const form = h("form", { novalidate: true },
      account ? h("input", { type: "text", name: "username", autocomplete: "username", value: account,
        readonly: true, hidden: true, tabindex: "-1", "aria-hidden": "true" }) : null,
      h("div", { class: "notice" }, icon("shield"),
        h("p", {}, "This change affects how your account is protected. Enter your password to continue; you won't be asked again for a few minutes.")),
      err.el, password.wrap,
      h("div", { class: "actions end" }, cancel, submit));

    const dlg = openDialog({
      title: "Confirm your password",
      content: form,
      onClose: () => {
        password.input.value = "";
        resolve(confirmed);
        refocus(opener);
      },
    });
    dlg.dialog.classList.add("dialog-sm");
    cancel.addEventListener("click", () => dlg.close());
    password.input.focus();

    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      err.set("");
      if (!password.input.value) {
        err.set("Enter your password.");
        password.input.setAttribute("aria-invalid", "true");
        password.input.focus();
        return;
      }
      busy(submit, async () => {
        try {
          await reauthenticate(password.input.value);
          confirmed = true;
          dlg.close();
        } catch (e) {
          if (!dlg.dialog.isConnected) return; // the session ended and the page moved on
          // Wrong password, or locked (429 with the wait): say so and stay open.
          err.set(errorMessage(e));
          password.input.value = "";
          password.input.setAttribute("aria-invalid", "true");
          password.input.focus();
        }
      });
    });
  });
}

/**
 * Focus goes back to what opened the dialog. That is usually a button still busy with the
 * action that asked for the password (disabled, so it cannot take focus yet): then it gets
 * focus once it is enabled again, unless the page has put focus somewhere else by then.
 */
function refocus(opener) {
  if (!opener || !document.contains(opener) || opener === document.body) return;
  if (!opener.disabled) { opener.focus(); return; }
  const observer = new MutationObserver(() => {
    if (!document.contains(opener)) { observer.disconnect(); return; }
    if (opener.disabled) return;
    observer.disconnect();
    const active = document.activeElement;
    if (!active || active === document.body) opener.focus();
  });
  observer.observe(opener, { attributes: true, attributeFilter: ["disabled"] });
  setTimeout(() => observer.disconnect(), 60000);
}
