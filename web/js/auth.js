// Sign up, sign in, the second step, the setup-required step and the first recovery codes.

import { api, setSession, setScope, clearSession, isCancelled } from "./api.js";
import { errorMessage } from "./errors.js";
import { h, icon, field, errorBox, busy, mmss, toast } from "./ui.js";
import { METHODS } from "./methods.js";
import { getAssertion, conditionalMediationAvailable, supported as webauthnSupported } from "./webauthn.js";
import { startRegistration, codesAfterPushEnroll } from "./register.js";
import { codesBlock } from "./codes.js";

/** Acts on an answer of POST /v1/login (or a second-factor answer). */
export function handleLoginAnswer(ctx, answer, username) {
  if (answer.status === "authenticated") {
    setSession(answer.session);
    ctx.state.pending = null;
    ctx.state.username = username;
    if (typeof answer.recovery_codes_remaining === "number") {
      const n = answer.recovery_codes_remaining;
      ctx.flash(n === 0
        ? "You used your last recovery code. Generate new codes below."
        : `You have ${n} recovery code${n === 1 ? "" : "s"} left.`, n <= 3 ? "warn" : "info");
    }
    ctx.navigate("settings");
  } else if (answer.status === "mfa_required") {
    ctx.state.pending = { username, mfa_token: answer.mfa_token, expires_at: answer.expires_at, methods: answer.methods || [] };
    ctx.navigate("verify");
  } else if (answer.status === "mfa_setup_required") {
    setSession(answer.session);
    ctx.state.pending = null;
    ctx.state.username = username;
    ctx.navigate("setup");
  } else {
    throw new Error("Unexpected answer from the server.");
  }
}

function authCard(title, sub, ...body) {
  return h("section", { class: "card narrow" },
    h("div", { class: "page-title" }, h("h1", {}, title), sub ? h("p", {}, sub) : null),
    ...body);
}

// Sign in ----------------------------------------------------------------------------------

export function renderSignIn(ctx, root) {
  const err = errorBox();
  // "webauthn": the browser may offer the passkeys it holds for this site in the field's
  // autofill (conditional mediation, below).
  const username = field({ label: "Username", name: "username", autocomplete: "username webauthn", required: true });
  const password = field({ label: "Password", name: "password", type: "password", autocomplete: "current-password", required: true });
  if (ctx.state.lastUsername) username.input.value = ctx.state.lastUsername;
  const submit = h("button", { type: "submit", class: "btn btn-block" }, "Sign in");
  const form = h("form", { novalidate: true, "aria-label": "Sign in" }, err.el, username.wrap, password.wrap, submit);
  const passkey = h("button", { type: "button", class: "btn btn-secondary btn-block" }, icon("key"), "Sign in with a passkey");
  const notice = ctx.takeFlash();
  root.replaceChildren(authCard("Sign in", "Welcome back to Latchkey.",
    notice, form,
    webauthnSupported() ? h("div", { class: "passkey-signin" },
      h("p", { class: "divider" }, h("span", {}, "or")),
      passkey,
      h("p", { class: "hint" }, "Use a passkey on this device, your phone or a security key: no password needed.")) : null,
    h("p", { class: "alt-link" }, "New here? ", h("a", { href: "#/sign-up" }, "Create an account"))));

  // One passkey request at a time: the autofill one waits in the background until the
  // person picks a passkey there; the button aborts it before asking modally.
  let waiting = null;
  const stopWaiting = () => { if (waiting) waiting.abort(); waiting = null; };
  ctx.onLeave(stopWaiting);
  const passkeySignIn = async (mediation, signal) => {
    const started = await api.passkeyStart();
    if (signal && signal.aborted) return;
    const credential = await getAssertion(started.publicKey, { mediation, signal });
    err.set("");
    handleLoginAnswer(ctx, await api.passkeyFinish(started.login_id, credential), null);
  };
  const offerInAutofill = async () => {
    if (!(await conditionalMediationAvailable())) return;
    stopWaiting();
    const controller = new AbortController();
    waiting = controller;
    try {
      await passkeySignIn("conditional", controller.signal);
    } catch (e) {
      // The person asked for nothing: a browser that cancels or declines the background
      // request (no passkey for this site, say) is no error to show.
      if (controller.signal.aborted || e.name !== "ApiError") return;
      err.set(errorMessage(e, "passkey"));
      // A refused passkey leaves the autofill offer in place for another try.
      if (e.status === 401 && waiting === controller) offerInAutofill();
    }
  };
  passkey.addEventListener("click", () => {
    stopWaiting();
    err.set("");
    busy(passkey, async () => {
      try {
        await passkeySignIn();
      } catch (e) {
        err.set(errorMessage(e, e.name === "ApiError" ? "passkey" : "login"));
        offerInAutofill();
      }
    });
  });
  offerInAutofill();

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const u = username.input.value.trim();
    const p = password.input.value;
    if (!u || !p) {
      err.set(!u ? "Enter your username." : "Enter your password.");
      (!u ? username.input : password.input).focus();
      return;
    }
    err.set("");
    busy(submit, async () => {
      try {
        const answer = await api.login(u, p);
        ctx.state.lastUsername = u;
        handleLoginAnswer(ctx, answer, u.toLowerCase());
      } catch (e) {
        err.set(errorMessage(e, "login"));
        password.input.value = "";
        password.input.focus();
      }
    });
  });
  return username.input.value ? password.input : username.input;
}

// Sign up ----------------------------------------------------------------------------------

export function renderSignUp(ctx, root) {
  const err = errorBox();
  const username = field({ label: "Username", name: "username", autocomplete: "username", required: true, maxlength: 64,
    hint: "3–64 characters: lower-case letters, digits and . _ - @ +" });
  const password = field({ label: "Password", name: "password", type: "password", autocomplete: "new-password", required: true, maxlength: 256,
    hint: "At least 8 characters. A long phrase is easier to remember and harder to guess." });
  const confirm = field({ label: "Confirm password", name: "confirm-password", type: "password", autocomplete: "new-password", required: true, maxlength: 256 });
  const submit = h("button", { type: "submit", class: "btn btn-block" }, "Create account");
  const form = h("form", { novalidate: true, "aria-label": "Create account" }, err.el, username.wrap, password.wrap, confirm.wrap, submit);
  root.replaceChildren(authCard("Create your account", "You'll add a second sign-in step right after.",
    form,
    h("p", { class: "alt-link" }, "Already have an account? ", h("a", { href: "#/sign-in" }, "Sign in"))));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const u = username.input.value.trim();
    const p = password.input.value;
    for (const f of [username, password, confirm]) f.input.removeAttribute("aria-invalid");
    const fail = (f, message) => { err.set(message); f.input.setAttribute("aria-invalid", "true"); f.input.focus(); };
    if (u.length < 3) return fail(username, "Choose a username of at least 3 characters.");
    if (p.length < 8) return fail(password, "Choose a password of at least 8 characters.");
    if (p !== confirm.input.value) return fail(confirm, "The two passwords don't match.");
    err.set("");
    return busy(submit, async () => {
      try {
        const created = await api.signUp(u, p);
        const answer = await api.login(u, p);
        ctx.state.lastUsername = created.username;
        handleLoginAnswer(ctx, answer, created.username);
      } catch (e) {
        const f = e.code === "invalid_username" || e.code === "username_taken" ? username
          : e.code === "weak_password" ? password : null;
        if (f) fail(f, errorMessage(e, "signup")); else err.set(errorMessage(e, "signup"));
      }
    });
  });
  return username.input;
}

// Second step ------------------------------------------------------------------------------

export function renderVerify(ctx, root) {
  const pending = ctx.state.pending;
  if (!pending) { ctx.navigate("sign-in"); return null; }
  const methods = pending.methods.filter((m) => METHODS[m]);
  let current = methods[0];
  let cleanup = () => {};
  ctx.onLeave(() => cleanup());

  const panelWrap = h("div", {});
  const switchWrap = h("div", {});
  const err = errorBox();

  const restart = () => {
    cleanup();
    ctx.state.pending = null;
    ctx.navigate("sign-in");
  };

  const spent = (e) => {
    if (e && (e.code === "invalid_mfa_token")) {
      cleanup();
      panelWrap.replaceChildren(
        h("div", { class: "notice warn" }, icon("clock"), h("p", {}, errorMessage(e))),
        h("button", { type: "button", class: "btn btn-block", onclick: restart }, "Sign in again"));
      switchWrap.replaceChildren();
      return true;
    }
    return false;
  };

  const finish = (answer) => {
    cleanup();
    handleLoginAnswer(ctx, answer, pending.username);
  };

  const panels = {
    webauthn() {
      const go = h("button", { type: "button", class: "btn btn-block" }, icon("key"), "Use security key");
      const status = h("p", { class: "status-line", hidden: true, role: "status" }, h("span", { class: "pulse" }), "Follow your browser's prompt: touch your key or confirm on your device.");
      go.addEventListener("click", () => {
        err.set("");
        busy(go, async () => {
          let step = "start";
          try {
            const opts = await api.loginWebauthnStart(pending.mfa_token);
            status.hidden = false;
            step = "get";
            const credential = await getAssertion(opts.publicKey);
            step = "finish";
            finish(await api.loginWebauthnFinish(pending.mfa_token, credential));
          } catch (e) {
            status.hidden = true;
            if (!spent(e)) err.set(errorMessage(e, step === "get" ? "login" : undefined));
          }
        });
      });
      if (!webauthnSupported()) {
        go.disabled = true;
        err.set("This browser can't use security keys or passkeys. Choose another way below.");
      }
      return [h("p", {}, "Insert your security key and touch it, or use the passkey on your phone or computer."), status, go];
    },
    totp() {
      const code = field({ label: "6-digit code", name: "code", inputmode: "numeric", autocomplete: "one-time-code",
        cls: "code-input", maxlength: 6, pattern: "[0-9]{6}", required: true, hint: "Open your authenticator app and enter the code it shows for Latchkey." });
      const submit = h("button", { type: "submit", class: "btn btn-block" }, "Verify");
      const form = h("form", { novalidate: true }, code.wrap, submit);
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const value = code.input.value.replace(/\s+/g, "");
        if (!/^\d{6}$/.test(value)) {
          err.set("Enter the 6 digits your authenticator app shows.");
          code.input.setAttribute("aria-invalid", "true");
          code.input.focus();
          return;
        }
        err.set("");
        busy(submit, async () => {
          try {
            finish(await api.loginTotp(pending.mfa_token, value));
          } catch (e) {
            if (spent(e)) return;
            err.set(errorMessage(e, "totp"));
            code.input.value = "";
            code.input.setAttribute("aria-invalid", "true");
            code.input.focus();
          }
        });
      });
      return [form];
    },
    recovery_code() {
      const code = field({ label: "Recovery code", name: "recovery-code", cls: "recovery-input", autocomplete: "off", maxlength: 40, required: true,
        hint: "One of the codes you saved, like abcde-fghij-kmnop-qrstu. Each code works once." });
      const submit = h("button", { type: "submit", class: "btn btn-block" }, "Verify");
      const form = h("form", { novalidate: true }, code.wrap, submit);
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const value = code.input.value.trim();
        if (!value) {
          err.set("Enter one of your recovery codes.");
          code.input.focus();
          return;
        }
        err.set("");
        busy(submit, async () => {
          try {
            finish(await api.loginRecovery(pending.mfa_token, value));
          } catch (e) {
            if (spent(e)) return;
            err.set(errorMessage(e, "recovery"));
            code.input.setAttribute("aria-invalid", "true");
            code.input.select();
            code.input.focus();
          }
        });
      });
      return [form];
    },
    push() {
      const body = h("div", {});
      let pollTimer = null;
      let stopClock = () => {};
      let active = null; // push_id being polled
      const stop = () => {
        active = null;
        if (pollTimer) clearTimeout(pollTimer);
        pollTimer = null;
        stopClock();
      };
      cleanup = stop;

      const intro = () => {
        const send = h("button", { type: "button", class: "btn btn-block" }, icon("push"), "Send push");
        send.addEventListener("click", () => busy(send, sendPush));
        body.replaceChildren(
          h("p", {}, "We'll send a notification to your phone. To approve it, type the number this page shows."),
          send);
      };

      const resendButton = (label = "Resend") => {
        const b = h("button", { type: "button", class: "btn btn-secondary" }, icon("refresh"), label);
        b.addEventListener("click", () => busy(b, sendPush));
        return b;
      };

      const showEnd = (kind, text) => {
        stop();
        body.replaceChildren(
          // role=alert: it replaces the waiting view on its own, so it is announced.
          h("div", { class: `notice ${kind}`, role: "alert" }, icon(kind === "danger" ? "x" : "clock"), h("p", {}, text)),
          h("div", { class: "actions" }, resendButton("Send a new push")));
      };

      async function sendPush() {
        err.set("");
        let push;
        try {
          push = await api.loginPush(pending.mfa_token);
        } catch (e) {
          if (!spent(e)) err.set(errorMessage(e, "push"));
          return;
        }
        stop();
        active = push.push_id;
        const clock = h("span", {});
        body.replaceChildren(
          h("p", { id: "push-number-label" }, "Open the Latchkey app on your phone and type this number:"),
          h("p", { class: "push-number", "aria-labelledby": "push-number-label", dataset: { testid: "push-number" } }, push.number),
          h("p", { class: "status-line", role: "status" }, h("span", { class: "pulse" }), "Waiting for your approval…"),
          h("p", { class: "hint" }, clock),
          h("div", { class: "actions" }, resendButton()));
        const end = new Date(push.expires_at).getTime();
        const tick = () => {
          const left = Math.max(0, Math.round((end - Date.now()) / 1000));
          clock.textContent = `This request expires in ${mmss(left)}.`;
          if (left <= 0) showEnd("warn", "The push request expired. Send a new one to try again.");
        };
        tick();
        const timer = setInterval(tick, 1000);
        stopClock = () => clearInterval(timer);
        const id = push.push_id;
        const poll = async () => {
          if (active !== id) return;
          try {
            const res = await api.loginPushStatus(pending.mfa_token, id);
            if (active !== id) return;
            if (res.status === "authenticated") { stop(); finish(res); return; }
            if (res.status === "denied") { showEnd("danger", "The sign-in was denied on your device, or the number typed there didn't match. Send a new push to try again, or choose another way."); return; }
            if (res.status === "expired") { showEnd("warn", "The push request expired. Send a new one to try again."); return; }
          } catch (e) {
            if (spent(e)) return;
            if (e.status !== 0 && e.status < 500 && e.status !== 429) { stop(); err.set(errorMessage(e, "push")); return; }
          }
          if (active === id) pollTimer = setTimeout(poll, 2000);
        };
        pollTimer = setTimeout(poll, 2000);
      }

      intro();
      return [body];
    },
  };

  const renderMethod = (m) => {
    cleanup();
    cleanup = () => {};
    current = m;
    err.set("");
    const meta = METHODS[m];
    panelWrap.replaceChildren(
      h("h2", { id: "method-title" }, meta.loginLabel),
      ...panels[m]());
    const others = methods.filter((x) => x !== m);
    switchWrap.replaceChildren(others.length ? h("nav", { class: "methods-switch", "aria-label": "Other ways to sign in" },
      h("h2", {}, "Try another way"),
      h("ul", {}, others.map((o) => h("li", {},
        h("button", { type: "button", class: "method-choice", onclick: () => { renderMethod(o); focusFirst(); } },
          icon(METHODS[o].icon), METHODS[o].loginLabel))))) : null);
  };
  const focusFirst = () => {
    const el = panelWrap.querySelector("input, button");
    if (el) el.focus();
  };

  if (!methods.length) {
    root.replaceChildren(authCard("Confirm it's you", null,
      h("div", { class: "notice warn" }, icon("warning"), h("p", {}, "No second step is available for this account right now. Contact your administrator.")),
      h("button", { type: "button", class: "btn btn-block", onclick: restart }, "Back to sign in")));
    return null;
  }
  renderMethod(current);
  root.replaceChildren(authCard("Confirm it's you", `Signing in as ${pending.username}.`,
    err.el, panelWrap, switchWrap,
    h("p", { class: "alt-link" }, h("button", { type: "button", class: "link-button", onclick: restart }, "Cancel and sign in again"))));
  return panelWrap.querySelector("input") || null;
}

// Setup required -----------------------------------------------------------------------------

export async function renderSetup(ctx, root) {
  root.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  const mfa = await api.mfa();
  const err = errorBox();
  const done = async (res) => {
    setScope("full");
    if (res.recovery_codes && res.recovery_codes.length) {
      ctx.state.freshCodes = { codes: res.recovery_codes, generated_at: null };
      ctx.navigate("recovery-codes");
      return;
    }
    try {
      const me = await api.me();
      setScope(me.scope);
      if (me.scope !== "full") {
        // The device enrolled from the app but this session stayed in setup: sign in afresh.
        await api.logout().catch(() => {});
        clearSession();
        ctx.flash("Your device was added. Sign in again to continue.", "ok");
        ctx.navigate("sign-in");
        return;
      }
      const fresh = await codesAfterPushEnroll(res);
      if (fresh) {
        ctx.state.freshCodes = { codes: fresh.codes, generated_at: fresh.generated_at };
        ctx.navigate("recovery-codes");
        return;
      }
    } catch (e) {
      if (isCancelled(e)) {
        // The password dialog for the fresh codes was closed: the device is there all the same.
        ctx.flash("Your device was added. Its recovery codes weren't shown, so generate a new set under “Recovery codes” before you need one.", "warn");
        ctx.navigate("settings");
        return;
      }
      err.set(errorMessage(e));
      return;
    }
    toast("Your device was added. Two-step verification is on.");
    ctx.navigate("settings");
  };
  const byType = new Map((mfa.methods || []).map((m) => [m.type, m]));
  const order = ["webauthn", "totp", "push"].filter((t) => !mfa.methods || byType.has(t));
  const list = h("div", { class: "choice-grid" }, order.map((t) => {
    const meta = METHODS[t];
    const titleId = `setup-${t}-title`;
    return h("div", { class: "choice" },
      h("span", { class: "item-icon" }, icon(meta.icon)),
      h("div", { class: "item-body" },
        h("p", { class: "item-title", id: titleId }, meta.label),
        h("p", { class: "desc" }, meta.description)),
      h("button", { type: "button", class: "btn btn-secondary", "aria-describedby": titleId,
        onclick: () => startRegistration(t, { onDone: done }) }, "Set up"));
  }));
  root.replaceChildren(h("section", { class: "card" },
    h("div", { class: "page-title" },
      h("h1", {}, "Set up two-step verification"),
      h("p", {}, "Your account needs a second way to confirm it's you before you can continue. Choose one to add now; you can add more later.")),
    err.el,
    list));
  return null;
}

// First recovery codes ----------------------------------------------------------------------

export function renderRecoveryCodes(ctx, root) {
  const fresh = ctx.state.freshCodes;
  if (!fresh) { ctx.navigate("settings"); return null; }
  const err = errorBox();
  const checkId = "codes-saved";
  const check = h("input", { type: "checkbox", id: checkId });
  const cont = h("button", { type: "button", class: "btn" }, "Continue");
  cont.addEventListener("click", () => {
    if (!check.checked) {
      err.set("Confirm that you've saved your recovery codes first.");
      check.focus();
      return;
    }
    ctx.state.freshCodes = null;
    ctx.navigate("settings");
  });
  root.replaceChildren(h("section", { class: "card" },
    h("div", { class: "notice ok" }, icon("check"), h("p", {}, "Your device was added. Two-step verification is on.")),
    h("div", { class: "page-title" },
      h("h1", {}, "Save your recovery codes"),
      h("p", {}, "If you lose your devices, a recovery code is how you get back in.")),
    codesBlock(fresh.codes, { username: ctx.state.username, generatedAt: fresh.generated_at }),
    err.el,
    h("div", { class: "checkbox" }, check, h("label", { for: checkId }, "I've saved my recovery codes somewhere safe.")),
    h("div", { class: "actions" }, cont)));
  return null;
}
