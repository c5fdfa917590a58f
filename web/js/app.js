// Latchkey single-page app: a tiny hash router. Routes hold no secrets; the pending sign-in
// (mfa_token) and fresh recovery codes stay in memory, the session token in sessionStorage.

import { api, getSession, clearSession, setUnauthenticatedHandler, setScope } from "./api.js";
import { errorMessage } from "./errors.js";
import { h, icon, focusHeading, toast, errorBox } from "./ui.js";
import { renderSignIn, renderSignUp, renderVerify, renderSetup, renderRecoveryCodes } from "./auth.js";
import { renderSettings } from "./settings.js";

const main = document.getElementById("main");
const accountBox = document.getElementById("account");
const accountName = document.getElementById("account-name");
const signOutBtn = document.getElementById("sign-out");

const TITLES = {
  "sign-in": "Sign in",
  "sign-up": "Create account",
  verify: "Confirm it's you",
  setup: "Set up two-step verification",
  "recovery-codes": "Save your recovery codes",
  settings: "Sign-in & security",
};

let leaveHandlers = [];
let flashMsg = null;
let renderSeq = 0;

const ctx = {
  state: { pending: null, username: null, freshCodes: null, lastUsername: "" },
  navigate(route) {
    const hash = `#/${route}`;
    if (location.hash === hash) render();
    else location.hash = hash;
  },
  rerender() { render({ keepFocus: true }); },
  onLeave(fn) { leaveHandlers.push(fn); },
  /** A message shown once at the top of the next page. kind: info | ok | warn | danger */
  flash(text, kind = "info") { flashMsg = { text, kind }; },
  takeFlash() {
    if (!flashMsg) return null;
    const { text, kind } = flashMsg;
    flashMsg = null;
    const ic = { ok: "check", warn: "warning", danger: "warning", info: "info" }[kind] || "info";
    return h("div", { class: `notice ${kind === "info" ? "" : kind}`.trim(), role: "status" }, icon(ic), h("p", {}, text));
  },
};

setUnauthenticatedHandler(() => {
  ctx.state.username = null;
  ctx.flash("Your session has ended. Sign in again.", "warn");
  ctx.navigate("sign-in");
});

function currentRoute() {
  const m = location.hash.match(/^#\/([a-z-]+)/);
  return m ? m[1] : "";
}

function showAccount(show) {
  accountBox.hidden = !show;
  accountName.textContent = show && ctx.state.username ? ctx.state.username : "";
  accountName.title = accountName.textContent;
}

async function ensureUsername() {
  if (ctx.state.username) return;
  const me = await api.me();
  ctx.state.username = me.username;
  setScope(me.scope);
}

async function render({ keepFocus = false } = {}) {
  const seq = ++renderSeq;
  for (const fn of leaveHandlers) { try { fn(); } catch { /* ignore */ } }
  leaveHandlers = [];
  for (const d of document.querySelectorAll("dialog")) d.close();

  let route = currentRoute();
  const session = getSession();
  // Route guards: where a person may be, given what we hold.
  if (session) {
    if (session.scope === "setup" && !["setup", "recovery-codes"].includes(route)) route = "setup";
    if (session.scope === "full" && ["sign-in", "sign-up", "verify", "setup", ""].includes(route)) route = "settings";
  } else if (!["sign-in", "sign-up", "verify"].includes(route)) {
    route = "sign-in";
  }
  if (route === "verify" && !ctx.state.pending) route = "sign-in";
  if (`#/${route}` !== location.hash) {
    history.replaceState(null, "", `#/${route}`);
  }
  document.title = `${TITLES[route] || "Latchkey"} · Latchkey`;

  let focusEl = null;
  try {
    if (session) {
      await ensureUsername();
      if (seq !== renderSeq) return;
    }
    showAccount(!!getSession());
    // A view that loads before it draws may finish after a newer render began (a sign-out
    // while the settings load): only the newest render draws.
    const root = {
      replaceChildren: (...nodes) => { if (seq === renderSeq) main.replaceChildren(...nodes); },
      querySelector: (selector) => main.querySelector(selector),
    };
    switch (route) {
      case "sign-up": focusEl = renderSignUp(ctx, root); break;
      case "verify": focusEl = renderVerify(ctx, root); break;
      case "setup": focusEl = await renderSetup(ctx, root); break;
      case "recovery-codes": focusEl = renderRecoveryCodes(ctx, root); break;
      case "settings": focusEl = await renderSettings(ctx, root); break;
      default: focusEl = renderSignIn(ctx, root); break;
    }
  } catch (e) {
    if (seq !== renderSeq) return;
    if (e && e.status === 401) return; // the unauthenticated handler has already moved on
    if (e && e.code === "mfa_setup_required") { setScope("setup"); ctx.navigate("setup"); return; }
    const err = errorBox();
    err.set(errorMessage(e));
    main.replaceChildren(h("section", { class: "card narrow" },
      h("h1", {}, "Something went wrong"), err.el,
      h("button", { type: "button", class: "btn", onclick: () => render() }, "Try again")));
  }
  if (seq !== renderSeq) return;
  if (!keepFocus) {
    if (focusEl) focusEl.focus();
    else focusHeading(main);
    window.scrollTo(0, 0);
  }
}

signOutBtn.addEventListener("click", async () => {
  signOutBtn.disabled = true;
  try {
    await api.logout();
  } catch (e) {
    if (e.status !== 401) toast(errorMessage(e));
  } finally {
    signOutBtn.disabled = false;
  }
  clearSession();
  document.getElementById("toasts").replaceChildren();
  ctx.state.username = null;
  ctx.state.knownDevices = null;
  ctx.state.pending = null;
  ctx.flash("You signed out.", "ok");
  ctx.navigate("sign-in");
});

window.addEventListener("hashchange", () => render());
render();
