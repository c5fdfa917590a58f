// The HTTP client for the Latchkey API (docs/openapi.yaml). Session token lives in sessionStorage only.
// An action that answers 403 reauthentication_required asks for the password ("Confirm your
// password", reauth.js), re-authenticates the session and is sent once more, here, for all.

import { confirmPassword } from "./reauth.js";

const SESSION_KEY = "latchkey.session";

function apiBase() {
  const fromConfig = (window.LATCHKEY_CONFIG && window.LATCHKEY_CONFIG.apiBase) || "";
  const meta = document.querySelector('meta[name="latchkey-api"]');
  const base = fromConfig || (meta && meta.content) || "";
  return base.replace(/\/+$/, "");
}

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds, or null
  }
}

// Session storage ------------------------------------------------------------------------

export function getSession() {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw);
    if (!s || typeof s.token !== "string") return null;
    if (s.expires_at && new Date(s.expires_at).getTime() <= Date.now()) {
      sessionStorage.removeItem(SESSION_KEY);
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

export function setSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({
    token: session.token,
    expires_at: session.expires_at,
    scope: session.scope,
  }));
}

export function setScope(scope) {
  const s = getSession();
  if (s) setSession({ ...s, scope });
}

/** The person closed the "Confirm your password" dialog: the action did not happen. */
export function isCancelled(error) {
  return !!error && error.code === "reauthentication_cancelled";
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

// Called when an authenticated request answers 401: the app routes back to sign-in.
let onUnauthenticated = () => {};
export function setUnauthenticatedHandler(fn) {
  onUnauthenticated = fn;
}

// Requests -----------------------------------------------------------------------------

function parseRetryAfter(value) {
  if (!value) return null;
  const n = Number(value);
  if (Number.isFinite(n)) return Math.max(0, Math.ceil(n));
  const d = Date.parse(value);
  return Number.isNaN(d) ? null : Math.max(0, Math.ceil((d - Date.now()) / 1000));
}

/**
 * request("POST", "/v1/login", {..}) → parsed JSON (or null for 204).
 * Throws ApiError for any non-2xx answer, and for network failures (status 0, code "network").
 * A 403 reauthentication_required opens the password dialog, then the same request is sent
 * once more; when the person cancels it, this throws ApiError code "reauthentication_cancelled"
 * (errors.js gives it no sentence: nothing happened, nothing to say).
 */
export async function request(method, path, body, { auth = true } = {}) {
  try {
    return await send(method, path, body, auth);
  } catch (e) {
    if (!(auth && e.status === 403 && e.code === "reauthentication_required")) throw e;
    const confirmed = await confirmPassword(reauthenticate);
    if (!confirmed) throw new ApiError(403, "reauthentication_cancelled", "", null);
    return send(method, path, body, auth); // once: a second 403 is the caller's to show
  }
}

// The password goes into this one request body and nowhere else.
function reauthenticate(password) {
  return send("POST", "/v1/session/reauthenticate", { password }, true);
}

async function send(method, path, body, auth) {
  const headers = { Accept: "application/json" };
  const session = auth ? getSession() : null;
  if (auth && session) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(apiBase() + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
  } catch {
    throw new ApiError(0, "network", "Latchkey could not be reached. Check your connection and try again.", null);
  }
  let data = null;
  const text = res.status === 204 ? "" : await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (res.ok) return data;

  const err = data && data.error && typeof data.error === "object" ? data.error : {};
  const code = typeof err.code === "string" ? err.code : `http_${res.status}`;
  const message = typeof err.message === "string" && err.message ? err.message : "";
  const apiError = new ApiError(res.status, code, message, parseRetryAfter(res.headers.get("Retry-After")));
  if (auth && res.status === 401 && code === "unauthenticated") {
    clearSession();
    onUnauthenticated(apiError);
  }
  throw apiError;
}

export const api = {
  signUp: (username, password) => request("POST", "/v1/accounts", { username, password }, { auth: false }),
  login: (username, password) => request("POST", "/v1/login", { username, password }, { auth: false }),
  loginTotp: (mfa_token, code) => request("POST", "/v1/login/totp", { mfa_token, code }, { auth: false }),
  loginRecovery: (mfa_token, code) => request("POST", "/v1/login/recovery-code", { mfa_token, code }, { auth: false }),
  loginWebauthnStart: (mfa_token) => request("POST", "/v1/login/webauthn/start", { mfa_token }, { auth: false }),
  loginWebauthnFinish: (mfa_token, credential) => request("POST", "/v1/login/webauthn/finish", { mfa_token, credential }, { auth: false }),
  loginPush: (mfa_token) => request("POST", "/v1/login/push", { mfa_token }, { auth: false }),
  loginPushStatus: (mfa_token, push_id) => request("POST", "/v1/login/push/status", { mfa_token, push_id }, { auth: false }),
  logout: () => request("POST", "/v1/logout"),
  me: () => request("GET", "/v1/me"),
  mfa: () => request("GET", "/v1/mfa"),
  events: () => request("GET", "/v1/mfa/events"),
  renameDevice: (id, name) => request("PATCH", `/v1/mfa/devices/${encodeURIComponent(id)}`, { name }),
  removeDevice: (id, password) => request("DELETE", `/v1/mfa/devices/${encodeURIComponent(id)}`, { password }),
  regenerateCodes: () => request("POST", "/v1/mfa/recovery-codes", {}),
  setMfaEnabled: (mfa_enabled, password) => request("PUT", "/v1/mfa/settings", { mfa_enabled, password }),
  totpStart: (name) => request("POST", "/v1/mfa/totp", name ? { name } : {}),
  totpConfirm: (registration_id, code, name) => request("POST", "/v1/mfa/totp/confirm", name ? { registration_id, code, name } : { registration_id, code }),
  webauthnStart: (name) => request("POST", "/v1/mfa/webauthn", name ? { name } : {}),
  webauthnConfirm: (registration_id, credential, name) => request("POST", "/v1/mfa/webauthn/confirm", name ? { registration_id, credential, name } : { registration_id, credential }),
  passkeyStart: () => request("POST", "/v1/login/passkey/start", {}, { auth: false }),
  passkeyFinish: (login_id, credential) => request("POST", "/v1/login/passkey/finish", { login_id, credential }, { auth: false }),
  pushStart: (name) => request("POST", "/v1/mfa/push", name ? { name } : {}),
  sessions: () => request("GET", "/v1/sessions"),
  revokeSession: (id) => request("DELETE", `/v1/sessions/${encodeURIComponent(id)}`),
  revokeOtherSessions: () => request("POST", "/v1/sessions/revoke-others", {}),
  changePassword: (current_password, new_password) => request("PUT", "/v1/password", { current_password, new_password }),
};
