// "Where you're signed in" (GET /v1/sessions, sign out one or all others) and the
// "Change password" dialog (PUT /v1/password).

import { api } from "./api.js";
import { errorMessage } from "./errors.js";
import { h, icon, field, errorBox, busy, openDialog, toast, formatDateTime, timeEl } from "./ui.js";
import { describeAgent } from "./agent.js";

function plural(n, one, many) {
  return n === 1 ? one : many;
}

export function sessionsCard(ctx, sessions, refresh) {
  const section = h("section", { class: "card", "aria-labelledby": "sessions-title" });
  const others = (sessions || []).filter((s) => !s.current);
  const signOutOthers = others.length
    ? h("button", { type: "button", class: "btn btn-secondary", onclick: () => confirmSignOutOthers(others.length, refresh) },
      "Sign out of all other sessions")
    : null;
  section.append(
    h("div", { class: "card-head" },
      h("div", {},
        h("h2", { id: "sessions-title" }, "Where you're signed in"),
        h("p", { class: "card-sub" }, "Browsers and apps signed in to your account. Sign out of any you don't recognise, then change your password.")),
      signOutOthers),
    sessions
      ? h("ul", { class: "list sessions", "aria-label": "Your sessions" }, sessions.map((s) => sessionItem(s, refresh)))
      : h("p", { class: "empty" }, "Your sessions couldn't be loaded right now."));
  return section;
}

function sessionItem(session, refresh) {
  const agent = describeAgent(session.user_agent);
  const titleId = `session-${session.id}-title`;
  const signOut = session.current ? null : h("button", {
    type: "button", class: "btn btn-secondary btn-sm", "aria-describedby": titleId,
    onclick: () => busy(signOut, async () => {
      try {
        await api.revokeSession(session.id);
        toast(`Signed out of ${agent.label}.`);
      } catch (e) {
        toast(e.code === "not_found" ? "That session had already ended." : errorMessage(e));
      }
      refresh();
    }),
  }, "Sign out");
  return h("li", { dataset: { testid: "session", sessionId: session.id, current: String(!!session.current) } },
    h("span", { class: "item-icon" }, icon(agent.mobile ? "phone" : "desktop")),
    h("div", { class: "item-body" },
      h("p", { class: "item-title", id: titleId }, agent.label, " ",
        session.current ? h("span", { class: "badge ok" }, icon("check"), "This device") : null),
      h("p", { class: "item-meta" },
        h("span", { class: "session-ip" }, session.ip || "Unknown address"),
        h("span", {}, session.current ? "Active now" : ["Last active ", timeEl(session.last_seen_at)]),
        h("span", {}, "Signed in ", timeEl(session.created_at, formatDateTime(session.created_at))))),
    h("div", { class: "item-actions" }, signOut));
}

function confirmSignOutOthers(count, refresh) {
  const err = errorBox();
  const go = h("button", { type: "button", class: "btn btn-danger" }, "Sign out other sessions");
  const content = h("div", {},
    err.el,
    h("p", {}, `${count} other ${plural(count, "session", "sessions")} will have to sign in again. This one stays signed in.`),
    h("div", { class: "actions end" },
      h("button", { type: "button", class: "btn btn-secondary", onclick: () => dlg.close() }, "Cancel"), go));
  const dlg = openDialog({ title: "Sign out everywhere else?", content });
  dlg.dialog.classList.add("dialog-sm");
  go.addEventListener("click", () => busy(go, async () => {
    err.set("");
    try {
      const res = await api.revokeOtherSessions();
      dlg.close();
      toast(`Signed out of ${res.revoked} other ${plural(res.revoked, "session", "sessions")}.`);
      refresh();
    } catch (e) {
      err.set(errorMessage(e));
    }
  }));
}

export function passwordCard(ctx, refresh) {
  return h("section", { class: "card", "aria-labelledby": "password-title" },
    h("div", { class: "card-head" },
      h("div", {},
        h("h2", { id: "password-title" }, "Password"),
        h("p", { class: "card-sub" }, "Changing it signs you out everywhere else.")),
      h("button", { type: "button", class: "btn btn-secondary", onclick: () => changePassword(ctx, refresh) },
        icon("lock"), "Change password")));
}

function changePassword(ctx, refresh) {
  const err = errorBox();
  const current = field({ label: "Current password", name: "current-password", type: "password",
    autocomplete: "current-password", required: true });
  const next = field({ label: "New password", name: "new-password", type: "password",
    autocomplete: "new-password", required: true, hint: "At least 8 characters, not your username." });
  const again = field({ label: "New password again", name: "new-password-again", type: "password",
    autocomplete: "new-password", required: true });
  const submit = h("button", { type: "submit", class: "btn" }, "Change password");
  // The account's name, hidden, so a password manager knows which entry to update.
  const account = (document.getElementById("account-name") || {}).textContent || ctx.state.username || "";
  const form = h("form", { novalidate: true, "aria-label": "Change password" },
    account ? h("input", { type: "text", name: "username", autocomplete: "username", value: account,
      readonly: true, hidden: true, tabindex: "-1", "aria-hidden": "true" }) : null,
    h("div", { class: "notice" }, icon("info"),
      h("p", {}, "Every other browser and app signed in to your account will be signed out. This one stays signed in.")),
    err.el, current.wrap, next.wrap, again.wrap,
    h("div", { class: "actions end" },
      h("button", { type: "button", class: "btn btn-secondary", onclick: () => dlg.close() }, "Cancel"), submit));
  const dlg = openDialog({
    title: "Change your password",
    content: form,
    onClose: () => { for (const f of [current, next, again]) f.input.value = ""; },
  });
  current.input.focus();

  const refuse = (message, input) => {
    err.set(message);
    input.setAttribute("aria-invalid", "true");
    input.focus();
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    err.set("");
    for (const f of [current, next, again]) f.input.removeAttribute("aria-invalid");
    if (!current.input.value) return refuse("Enter your current password.", current.input);
    if ([...next.input.value].length < 8) return refuse("Choose a new password of at least 8 characters.", next.input);
    if (next.input.value !== again.input.value) return refuse("The new passwords don't match.", again.input);
    if (next.input.value === current.input.value) return refuse(errorMessage({ name: "ApiError", code: "same_password" }), next.input);
    return busy(submit, async () => {
      try {
        const res = await api.changePassword(current.input.value, next.input.value);
        dlg.close();
        const n = res.revoked_sessions;
        ctx.flash(n
          ? `Your password was changed. ${n} other ${plural(n, "session was", "sessions were")} signed out.`
          : "Your password was changed.", "ok");
        refresh();
      } catch (e) {
        const wrongCurrent = e.code === "invalid_credentials" || e.status === 429;
        if (wrongCurrent) current.input.value = "";
        refuse(errorMessage(e), wrongCurrent ? current.input : next.input);
      }
    });
  });
}
