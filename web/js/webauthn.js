// WebAuthn glue: the server speaks WebAuthn JSON (binary fields base64url). Newer browsers
// parse it with PublicKeyCredential.parse*OptionsFromJSON and serialise with toJSON(); the
// manual converters below do the same for browsers without them.

export function supported() {
  return typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
}

export function b64urlToBytes(s) {
  const b64 = String(s).replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
  const bin = atob(padded);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToB64url(buf) {
  const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 1) bin += String.fromCharCode(bytes[i]);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function descriptors(list) {
  return (list || []).map((d) => ({ ...d, id: b64urlToBytes(d.id) }));
}

export function creationOptionsFromJSON(json) {
  if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
    try { return PublicKeyCredential.parseCreationOptionsFromJSON(json); } catch { /* fall through */ }
  }
  return {
    ...json,
    challenge: b64urlToBytes(json.challenge),
    user: { ...json.user, id: b64urlToBytes(json.user.id) },
    excludeCredentials: descriptors(json.excludeCredentials),
  };
}

export function requestOptionsFromJSON(json) {
  if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
    try { return PublicKeyCredential.parseRequestOptionsFromJSON(json); } catch { /* fall through */ }
  }
  const out = { ...json, challenge: b64urlToBytes(json.challenge) };
  if (json.allowCredentials) out.allowCredentials = descriptors(json.allowCredentials);
  return out;
}

function b64field(v) {
  if (v === null || v === undefined) return null;
  return typeof v === "string" ? v : bytesToB64url(v);
}

// The credential is sent with exactly the fields docs/openapi.yaml names, whichever way it was
// serialised, so a strict server never sees browser-specific extras.
function tryToJSON(cred) {
  try {
    return typeof cred.toJSON === "function" ? cred.toJSON() : null;
  } catch {
    return null;
  }
}

// Tolerates options wrapped once more as {"publicKey": {...}} (webauthn-rs' own envelope).
function unwrap(json) {
  return json && !json.challenge && json.publicKey ? json.publicKey : json;
}

// Only the browser's credProps report (is the credential discoverable?) is sent: the
// server shows it as the device's "passkey" flag.
function credProps(cred, j) {
  let results = j && j.clientExtensionResults;
  if (!results && typeof cred.getClientExtensionResults === "function") {
    try { results = cred.getClientExtensionResults(); } catch { results = null; }
  }
  const rk = results && results.credProps && results.credProps.rk;
  return typeof rk === "boolean" ? { credProps: { rk } } : null;
}

export function registrationToJSON(cred) {
  const j = tryToJSON(cred);
  const r = cred.response;
  const transports = j ? j.response.transports : (typeof r.getTransports === "function" ? r.getTransports() : undefined);
  const response = {
    attestationObject: j ? j.response.attestationObject : bytesToB64url(r.attestationObject),
    clientDataJSON: j ? j.response.clientDataJSON : bytesToB64url(r.clientDataJSON),
  };
  if (Array.isArray(transports) && transports.length) response.transports = transports;
  const out = {
    id: cred.id,
    rawId: j ? j.rawId : bytesToB64url(cred.rawId),
    type: cred.type,
    response,
  };
  const extensions = credProps(cred, j);
  if (extensions) out.clientExtensionResults = extensions;
  return out;
}

export function assertionToJSON(cred) {
  const j = tryToJSON(cred);
  const r = cred.response;
  return {
    id: cred.id,
    rawId: j ? j.rawId : bytesToB64url(cred.rawId),
    type: cred.type,
    response: {
      authenticatorData: j ? j.response.authenticatorData : bytesToB64url(r.authenticatorData),
      clientDataJSON: j ? j.response.clientDataJSON : bytesToB64url(r.clientDataJSON),
      signature: j ? j.response.signature : bytesToB64url(r.signature),
      userHandle: j ? b64field(j.response.userHandle) : (r.userHandle ? bytesToB64url(r.userHandle) : null),
    },
  };
}

/** Runs navigator.credentials.create with the server's options JSON; returns the credential JSON. */
export async function createCredential(publicKeyJSON) {
  const publicKey = creationOptionsFromJSON(unwrap(publicKeyJSON));
  const cred = await navigator.credentials.create({ publicKey });
  if (!cred) throw new DOMException("No credential was created.", "NotAllowedError");
  return registrationToJSON(cred);
}

/** Whether the browser can offer passkeys in a username field's autofill. */
export async function conditionalMediationAvailable() {
  if (!supported() || typeof PublicKeyCredential.isConditionalMediationAvailable !== "function") return false;
  try { return await PublicKeyCredential.isConditionalMediationAvailable(); } catch { return false; }
}

/**
 * Runs navigator.credentials.get with the server's options JSON; returns the assertion JSON.
 * `mediation: "conditional"` waits for the person to pick a passkey from autofill; `signal`
 * aborts the request (a browser runs one at a time).
 */
export async function getAssertion(publicKeyJSON, { mediation, signal } = {}) {
  const publicKey = requestOptionsFromJSON(unwrap(publicKeyJSON));
  const request = { publicKey };
  if (mediation) request.mediation = mediation;
  if (signal) request.signal = signal;
  const cred = await navigator.credentials.get(request);
  if (!cred) throw new DOMException("No credential was returned.", "NotAllowedError");
  return assertionToJSON(cred);
}
