// Human sentences for GET /v1/mfa/events.

import { h, icon, timeEl } from "./ui.js";
import { methodLabel, methodIcon } from "./methods.js";
import { describeSource } from "./agent.js";

const DEVICE_TYPES = new Set(["webauthn", "totp", "push"]);

// `detail` is free text in the API ("recovery code", "totp", …); a bare device type is read as one.
function detailObject(detail) {
  if (!detail) return {};
  if (typeof detail === "object") return detail;
  const text = String(detail);
  return DEVICE_TYPES.has(text) ? { type: text } : { text };
}

function deviceRef(ev, devicesById) {
  const d = ev.device_id && devicesById.get(ev.device_id);
  const detail = detailObject(ev.detail);
  const name = (d && d.name) || detail.name || detail.device_name;
  const type = (d && d.type) || detail.type || detail.device_type;
  if (name) return `“${name}”`;
  if (type) {
    const label = methodLabel(type).toLowerCase();
    return `${/^[aeiou]/.test(label) ? "an" : "a"} ${label}`;
  }
  return "a device";
}

function deviceType(ev, devicesById) {
  const d = ev.device_id && devicesById.get(ev.device_id);
  const detail = detailObject(ev.detail);
  return (d && d.type) || detail.type || detail.device_type || null;
}

/** " (text)" from a short free-text detail, or from the device the event names. */
function aside(ev, devicesById) {
  const detail = detailObject(ev.detail);
  if (ev.device_id && devicesById.get(ev.device_id)) return ` (${deviceRef(ev, devicesById)})`;
  if (detail.type) return ` (${methodLabel(detail.type).toLowerCase()})`;
  if (detail.text && detail.text.length <= 60) return ` (${detail.text})`;
  return "";
}

// Passkey sign-ins carry the detail "passkey", or "passkey: <why refused>".
function isPasskey(ev) {
  return typeof ev.detail === "string" && /^passkey(:|$)/.test(ev.detail);
}

function passkeyAside(ev, devicesById) {
  if (ev.device_id && devicesById.get(ev.device_id)) return ` (${deviceRef(ev, devicesById)})`;
  const why = ev.detail.replace(/^passkey:?\s*/, "").replace(/_/g, " ");
  return why ? ` (${why})` : "";
}

export function describeEvent(ev, devicesById = new Map()) {
  switch (ev.type) {
    case "login_succeeded": return { icon: "signIn", text: isPasskey(ev)
      ? `You signed in with a passkey, without your password${passkeyAside(ev, devicesById)}.`
      : `You signed in${aside(ev, devicesById)}.` };
    case "login_failed": return { icon: "warning", warn: true, text: isPasskey(ev)
      ? `A sign-in with a passkey was refused${passkeyAside(ev, devicesById)}.`
      : ev.detail
        ? `A wrong password was entered${aside(ev, devicesById)}.`
        : "Someone tried to sign in with a wrong password." };
    case "second_factor_failed": return { icon: "warning", warn: true, text: `A sign-in was stopped at the second step${aside(ev, devicesById)}.` };
    case "device_added": return { icon: methodIcon(deviceType(ev, devicesById) || "webauthn"), text: `You added ${deviceRef(ev, devicesById)}.` };
    case "device_renamed": return { icon: "pencil", text: `You renamed ${deviceRef(ev, devicesById)}.` };
    case "device_removed": return { icon: "trash", text: `You removed ${deviceRef(ev, devicesById)}.` };
    case "recovery_codes_generated": return { icon: "refresh", text: "You generated new recovery codes. The old ones stopped working." };
    case "recovery_code_used": return { icon: "recovery", text: "A recovery code was used to sign in." };
    case "push_denied": return { icon: "push", warn: true, text: "A push sign-in request was denied on your device." };
    case "mfa_enabled": return { icon: "shield", text: "You turned on two-step verification." };
    case "mfa_disabled": return { icon: "shieldOff", warn: true, text: "You turned off two-step verification." };
    case "password_changed": return { icon: "lock", text: "You changed your password. Other sessions were signed out." };
    // detail: "session <id>" for one, "all other sessions (n)" for the rest.
    case "session_revoked": return { icon: "signIn", text: /^all other/.test(ev.detail || "")
      ? "You signed out of all other sessions."
      : "You signed out of another session." };
    // "This wasn't me" on the push device: every session ended, an added device removed.
    case "notice_reported": return { icon: "shieldOff", warn: true, text: "Your push device reported a change as not yours. Every session was signed out." };
    // latchkey-admin: the detail names the action and the operator ("reset-mfa by alice").
    case "admin_action": return { icon: "info", warn: true, text: `The support desk changed your account${aside(ev, devicesById)}.` };
    default: return { icon: "info", text: "A security setting changed." };
  }
}

const SHOWN = 8;

/** devices: the current ones; known: id → {name, type} of devices seen earlier (removed ones). */
export function eventsList(events, devices, known = new Map()) {
  const byId = new Map([...known, ...(devices || []).map((d) => [d.id, d])]);
  if (!events.length) return h("p", { class: "empty" }, "No activity yet.");
  const list = h("ul", { class: "list events", id: "events-list" }, events.map((ev, i) => {
    const d = describeEvent(ev, byId);
    // Where the request that made the change came from; an operator's action has no source.
    const source = describeSource(ev.ip, ev.user_agent);
    const li = h("li", { dataset: { testid: "event", eventType: ev.type } },
      h("span", { class: d.warn ? "item-icon warn" : "item-icon" }, icon(d.icon)),
      h("div", { class: "item-body" }, h("p", {}, d.text),
        source ? h("p", { class: "item-meta event-source" }, source) : null),
      timeEl(ev.at));
    if (i >= SHOWN) li.hidden = true;
    return li;
  }));
  if (events.length <= SHOWN) return list;
  const more = h("button", { type: "button", class: "btn btn-secondary btn-sm show-more", "aria-controls": "events-list", "aria-expanded": "false" },
    `Show all ${events.length} events`);
  more.addEventListener("click", () => {
    const hidden = list.querySelectorAll("li[hidden]");
    for (const li of hidden) li.hidden = false;
    more.remove();
    if (hidden[0]) {
      hidden[0].setAttribute("tabindex", "-1");
      hidden[0].focus();
    }
  });
  return h("div", {}, list, more);
}
