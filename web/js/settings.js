// Authentication settings: devices, recovery codes, adding methods, MFA on/off, where you're
// signed in, the password, activity.

import { api, isCancelled } from "./api.js";
import { errorMessage } from "./errors.js";
import { h, icon, field, errorBox, busy, openDialog, toast, formatDate, relativeTime, timeEl } from "./ui.js";
import { METHODS, methodLabel, methodIcon } from "./methods.js";
import { startRegistration, codesAfterPushEnroll } from "./register.js";
import { codesBlock } from "./codes.js";
import { eventsList } from "./events.js";
import { sessionsCard, passwordCard } from "./sessions.js";

export async function renderSettings(ctx, root) {
  // A refresh keeps the current page on screen until the new data is in.
  if (!root.querySelector('[data-view="settings"]')) root.replaceChildren(h("p", { class: "loading" }, "Loading your settings…"));
  const [mfa, events, sessions] = await Promise.all([
    api.mfa(),
    api.events().catch(() => null),
    api.sessions().then((r) => r.sessions || []).catch(() => null),
  ]);
  const refresh = () => ctx.rerender();
  // Remember names of devices seen in this tab, so activity about a removed one still names it.
  ctx.state.knownDevices = ctx.state.knownDevices || new Map();
  for (const d of mfa.devices || []) ctx.state.knownDevices.set(d.id, { name: d.name, type: d.type });

  const flash = ctx.takeFlash();
  const page = h("div", { dataset: { view: "settings" } },
    h("div", { class: "page-title" },
      h("h1", {}, "Sign-in & security"),
      h("p", {}, "Manage how you confirm it's you when you sign in to Latchkey.")),
    flash,
    mfa.mfa_enabled ? null : h("div", { class: "notice danger", role: "note" }, icon("shieldOff"),
      h("p", {}, h("strong", {}, "Two-step verification is off. "), "Anyone who learns your password can sign in. Turn it on below.")),
    mfa.mfa_enabled && mfa.mfa_setup_required ? h("div", { class: "notice warn" }, icon("warning"),
      h("p", {}, "You have no devices. Add one below, or you'll be asked to set one up at your next sign-in.")) : null,
    devicesCard(ctx, mfa, refresh),
    recoveryCard(ctx, mfa, refresh),
    methodsCard(ctx, mfa, refresh),
    mfaToggleCard(ctx, mfa, refresh),
    sessionsCard(ctx, sessions, refresh),
    passwordCard(ctx, refresh),
    activityCard(events, mfa, ctx.state.knownDevices));
  root.replaceChildren(page);
  return null;
}

// Devices ------------------------------------------------------------------------------------

function devicesCard(ctx, mfa, refresh) {
  const devices = mfa.devices || [];
  const list = devices.length
    ? h("ul", { class: "list devices", "aria-label": "Your devices" }, devices.map((d) => deviceItem(ctx, d, mfa, refresh)))
    : h("p", { class: "empty" }, "No devices yet. Add one under “Add a sign-in method”.");
  return h("section", { class: "card", "aria-labelledby": "devices-title" },
    h("h2", { id: "devices-title" }, "Your devices"),
    h("p", { class: "card-sub" }, "Security keys, passkeys, apps and phones that can confirm your sign-ins."),
    list);
}

function deviceItem(ctx, d, mfa, refresh) {
  const titleId = `device-${d.id}-name`;
  const clone = d.warning === "possible_clone";
  return h("li", { dataset: { testid: "device", deviceId: d.id, deviceType: d.type } },
    h("span", { class: "item-icon" }, icon(methodIcon(d.type))),
    h("div", { class: "item-body" },
      h("p", { class: "item-title", id: titleId }, d.name),
      h("p", { class: "type-label" }, methodLabel(d.type)),
      d.type === "webauthn" ? h("p", { class: "item-meta", dataset: { testid: "passkey-status" } }, d.passkey
        ? [h("span", { class: "badge ok" }, icon("check"), "Passkey"), " Signs you in on its own, without your password."]
        : "Used after your password; can't sign you in on its own.") : null,
      h("p", { class: "item-meta" },
        h("span", {}, "Added ", timeEl(d.created_at, formatDate(d.created_at))),
        h("span", {}, d.last_used_at ? ["Last used ", timeEl(d.last_used_at, relativeTime(d.last_used_at))] : "Never used")),
      clone ? h("p", { class: "clone-warning" }, h("span", { class: "badge warn" }, icon("warning"), "Possible clone"), " ",
        "This key answered with an old counter, so a copy of it may exist. The sign-in was refused. Remove this key and register it again.") : null),
    h("div", { class: "item-actions" },
      h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": `Edit ${d.name}`,
        title: "Rename or remove", onclick: () => editDevice(ctx, d, mfa, refresh) }, icon("pencil"))));
}

function editDevice(ctx, device, mfa, refresh) {
  const devices = mfa.devices || [];
  const last = devices.length === 1;
  const renameErr = errorBox();
  const name = field({ label: "Name", name: "device-name", value: device.name, maxlength: 64, autocomplete: "off", required: true });
  const save = h("button", { type: "submit", class: "btn" }, "Save name");
  const renameForm = h("form", { novalidate: true, "aria-label": "Rename device" }, renameErr.el, name.wrap,
    h("div", { class: "actions" }, save));

  const removeErr = errorBox();
  const password = field({ label: "Your password", name: "password", type: "password", autocomplete: "current-password", required: true,
    hint: "Confirm it's you to remove this device." });
  const remove = h("button", { type: "submit", class: "btn btn-danger" }, icon("trash"), "Remove device");
  const warning = last
    ? h("div", { class: "notice warn" }, icon("warning"), h("p", {},
      mfa.mfa_enabled
        ? [h("strong", {}, "This is your only device. "), "After removing it you'll have to set up a new one the next time you sign in."]
        : [h("strong", {}, "This is your only device. "), "Two-step verification is off, so only your password will protect your account."]))
    : null;
  const removeForm = h("form", { novalidate: true, "aria-label": "Remove device", class: "dialog-section" },
    h("h3", {}, "Remove this device"),
    h("p", { class: "hint" }, `“${device.name}” will no longer be able to confirm your sign-ins.`),
    warning, removeErr.el, password.wrap,
    h("div", { class: "actions" }, remove));

  const dlg = openDialog({
    title: `Edit ${methodLabel(device.type).toLowerCase()}`,
    content: h("div", {},
      h("p", { class: "type-label" }, `Added ${formatDate(device.created_at)}`),
      renameForm, removeForm),
  });

  renameForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    renameErr.set("");
    const value = name.input.value.trim();
    if (!value) {
      renameErr.set("Enter a name.");
      name.input.focus();
      return;
    }
    busy(save, async () => {
      try {
        await api.renameDevice(device.id, value);
        dlg.close();
        toast(`Renamed to “${value}”.`);
        refresh();
      } catch (e) {
        renameErr.set(errorMessage(e, "device"));
        if (e.code === "not_found") { dlg.close(); refresh(); }
      }
    });
  });

  removeForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    removeErr.set("");
    if (!password.input.value) {
      removeErr.set("Enter your password.");
      password.input.focus();
      return;
    }
    busy(remove, async () => {
      try {
        const res = await api.removeDevice(device.id, password.input.value);
        dlg.close();
        if (res && res.mfa_setup_required) {
          ctx.flash("Device removed. You have no devices left: you'll be asked to set one up at your next sign-in.", "warn");
        } else {
          toast(`Removed “${device.name}”.`);
        }
        refresh();
      } catch (e) {
        removeErr.set(errorMessage(e, "device"));
        password.input.value = "";
        password.input.setAttribute("aria-invalid", "true");
        password.input.focus();
        if (e.code === "not_found") { dlg.close(); refresh(); }
      }
    });
  });
}

// Recovery codes -----------------------------------------------------------------------------

function recoveryCard(ctx, mfa, refresh) {
  const rc = mfa.recovery_codes || { remaining: 0, generated_at: null };
  const low = rc.remaining <= 3;
  const regen = h("button", { type: "button", class: "btn btn-secondary", onclick: () => regenerate(ctx, rc, refresh) },
    icon("refresh"), "Regenerate");
  return h("section", { class: "card", "aria-labelledby": "recovery-title" },
    h("div", { class: "card-head" },
      h("div", {},
        h("h2", { id: "recovery-title" }, "Recovery codes"),
        h("p", { class: "card-sub" }, "One-time codes for when you can't use any of your devices.")),
      regen),
    h("p", { class: "codes-count", dataset: { testid: "codes-remaining" } },
      h("span", { class: "nowrap" }, h("strong", {}, String(rc.remaining)), " of 10 codes left"), " ",
      rc.generated_at ? h("span", { class: "item-meta codes-generated" }, "Generated ", timeEl(rc.generated_at, formatDate(rc.generated_at))) : null),
    low ? h("p", { class: "method-reason" }, rc.remaining === 0
      ? "You have no recovery codes. Generate a new set so you can't get locked out."
      : "You're running low. Generate a new set soon.") : null);
}

function regenerate(ctx, rc, refresh) {
  const err = errorBox();
  const go = h("button", { type: "button", class: "btn" }, icon("refresh"), "Generate new codes");
  const content = h("div", {},
    err.el,
    h("p", {}, "You'll get 10 new recovery codes. ", h("strong", {}, "Your current codes stop working right away"),
      rc.remaining ? ` (${rc.remaining} unused).` : "."),
    h("div", { class: "actions end" },
      h("button", { type: "button", class: "btn btn-secondary", onclick: () => dlg.close() }, "Cancel"), go));
  let changed = false;
  const dlg = openDialog({ title: "Generate new recovery codes?", content, onClose: () => { if (changed) refresh(); } });
  go.addEventListener("click", () => busy(go, async () => {
    err.set("");
    try {
      const res = await api.regenerateCodes();
      changed = true;
      dlg.titleEl.textContent = "Your new recovery codes";
      content.replaceChildren(
        codesBlock(res.codes, { username: ctx.state.username, generatedAt: res.generated_at }),
        h("div", { class: "actions end" }, h("button", { type: "button", class: "btn", onclick: () => dlg.close() }, "Done")));
      content.querySelector("button").focus();
    } catch (e) {
      err.set(errorMessage(e));
    }
  }));
}

// Add a method ------------------------------------------------------------------------------

function methodsCard(ctx, mfa, refresh) {
  const byType = new Map((mfa.methods || []).map((m) => [m.type, m]));
  const firstDevice = !(mfa.devices || []).length;
  const onDone = async (res) => {
    let codes = res.recovery_codes && res.recovery_codes.length ? { codes: res.recovery_codes, generated_at: null } : null;
    if (!codes && firstDevice && res.push) {
      try {
        const fresh = await codesAfterPushEnroll(res);
        if (fresh) codes = { codes: fresh.codes, generated_at: fresh.generated_at };
      } catch (e) {
        if (isCancelled(e)) {
          ctx.flash("Your device was added. Its recovery codes weren't shown, so generate a new set under “Recovery codes” before you need one.", "warn");
          refresh();
          return;
        }
        toast(errorMessage(e));
      }
    }
    if (codes) {
      ctx.state.freshCodes = codes;
      ctx.navigate("recovery-codes");
      return;
    }
    toast(`Added “${res.device ? res.device.name : "your device"}”.`);
    refresh();
  };
  const items = ["webauthn", "totp", "push"].map((t) => {
    const meta = METHODS[t];
    const m = byType.get(t) || { registered: 0, max: 1 };
    const full = m.registered >= m.max;
    const titleId = `method-${t}-title`;
    const reasonId = `method-${t}-reason`;
    const reason = !full ? null : m.max === 1
      ? `You already have ${t === "totp" ? "an authenticator app" : "a push device"}. Remove it to add another.`
      : `You have ${m.registered} of ${m.max} allowed. Remove one to add another.`;
    return h("li", {},
      h("span", { class: "item-icon" }, icon(meta.icon)),
      h("div", { class: "item-body" },
        h("p", { class: "item-title", id: titleId }, meta.label),
        h("p", { class: "item-meta" }, meta.description),
        reason ? h("p", { class: "method-reason", id: reasonId }, reason) : null),
      h("div", { class: "item-actions" },
        h("button", { type: "button", class: "btn btn-secondary", disabled: full,
          "aria-describedby": reason ? `${titleId} ${reasonId}` : titleId,
          onclick: () => startRegistration(t, { onDone }) }, "Register")));
  });
  return h("section", { class: "card", "aria-labelledby": "methods-title" },
    h("h2", { id: "methods-title" }, "Add a sign-in method"),
    h("p", { class: "card-sub" }, "Having more than one lets you sign in if a device is lost."),
    h("ul", { class: "list methods" }, items));
}

// MFA on / off ------------------------------------------------------------------------------

function mfaToggleCard(ctx, mfa, refresh) {
  const on = mfa.mfa_enabled;
  const btn = h("button", { type: "button", class: on ? "btn btn-danger-outline" : "btn",
    onclick: () => toggleMfa(ctx, mfa, refresh) }, on ? "Turn off" : "Turn on");
  return h("section", { class: "card", "aria-labelledby": "mfa-title" },
    h("div", { class: "card-head" },
      h("div", {},
        h("h2", { id: "mfa-title" }, "Two-step verification ",
          on ? h("span", { class: "badge ok" }, icon("check"), "On") : h("span", { class: "badge off" }, "Off")),
        h("p", { class: "card-sub" }, on
          ? "Every sign-in needs your password and one of your devices."
          : "Sign-ins need only your password.")),
      btn));
}

function toggleMfa(ctx, mfa, refresh) {
  const enabling = !mfa.mfa_enabled;
  const err = errorBox();
  const password = field({ label: "Your password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: enabling ? "btn" : "btn btn-danger" },
    enabling ? "Turn on two-step verification" : "Turn off two-step verification");
  const noDevices = !(mfa.devices || []).length;
  const warning = enabling
    ? h("div", { class: "notice" }, icon("info"), h("p", {}, noDevices
      ? "You have no devices yet, so you'll be asked to set one up the next time you sign in."
      : "From your next sign-in, you'll confirm with one of your devices after your password."))
    : h("div", { class: "notice danger" }, icon("warning"), h("div", {},
      h("p", {}, h("strong", {}, "Your account will be protected by your password alone. ")),
      h("p", {}, "Anyone who learns or guesses it can sign in. Your devices and recovery codes are kept, so you can turn this back on at any time.")));
  const form = h("form", { novalidate: true }, warning, err.el, password.wrap,
    h("div", { class: "actions end" },
      h("button", { type: "button", class: "btn btn-secondary", onclick: () => dlg.close() }, "Cancel"), submit));
  const dlg = openDialog({ title: enabling ? "Turn on two-step verification?" : "Turn off two-step verification?", content: form });
  password.input.focus();
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    err.set("");
    if (!password.input.value) {
      err.set("Enter your password.");
      password.input.focus();
      return;
    }
    busy(submit, async () => {
      try {
        const res = await api.setMfaEnabled(enabling, password.input.value);
        dlg.close();
        // Turning it off needs no extra message: the page then says so in red at the top.
        if (res.mfa_enabled) {
          ctx.flash(res.mfa_setup_required
            ? "Two-step verification is on. Add a device now or at your next sign-in."
            : "Two-step verification is on.", "ok");
        } else {
          toast("Two-step verification is off.");
        }
        refresh();
      } catch (e) {
        err.set(errorMessage(e));
        password.input.value = "";
        password.input.setAttribute("aria-invalid", "true");
        password.input.focus();
      }
    });
  });
}

// Activity ------------------------------------------------------------------------------------

function activityCard(events, mfa, known) {
  return h("section", { class: "card", "aria-labelledby": "activity-title" },
    h("h2", { id: "activity-title" }, "Recent security activity"),
    h("p", { class: "card-sub" }, "Each change, and where it came from. If something here wasn't you, change your password, remove devices you don't recognise and regenerate your recovery codes."),
    events ? eventsList(events.events || [], mfa.devices, known) : h("p", { class: "empty" }, "Activity couldn't be loaded right now."));
}
