// Turns API errors (and browser WebAuthn errors) into sentences a person can act on.

function waitText(seconds) {
  if (seconds === null || seconds === undefined) return "a little while";
  if (seconds < 60) return seconds <= 1 ? "a second" : `${seconds} seconds`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? "a minute" : `${minutes} minutes`;
}

// Friendlier text for the common codes. context lets a view refine one (e.g. "login").
const friendly = {
  invalid_credentials: (e, ctx) => ctx === "login"
    ? "That username and password don't match. Check them and try again."
    : ctx === "passkey"
      ? "That passkey wasn't accepted. Try again, or sign in with your username and password."
      : "That password isn't right. Try again.",
  invalid_code: (e, ctx) => ctx === "recovery"
    ? "That recovery code isn't valid or was already used. Check it and try again."
    : "That code isn't right. Codes change every 30 seconds — enter the one your app shows now.",
  invalid_mfa_token: () => "This sign-in has expired or had too many wrong attempts. Sign in again.",
  invalid_signature: () => "Your security key's answer couldn't be verified. Try again or use another method.",
  unauthenticated: () => "Your session has ended. Sign in again.",
  mfa_setup_required: () => "Add a second sign-in step before changing other settings.",
  reauthentication_required: () => "Confirm your password to make this change, then try again.",
  // The person cancelled the password dialog: nothing happened, so there is nothing to say.
  reauthentication_cancelled: () => "",
  forbidden: () => "You aren't allowed to do that.",
  not_found: (e, ctx) => ctx === "device" ? "That device no longer exists. The list has been refreshed." : "That item wasn't found.",
  username_taken: () => "That username is taken. Choose another one.",
  method_limit_reached: () => "You've already registered the most devices allowed for this method.",
  method_not_registered: (e, ctx) => ctx === "push"
    ? "There's no push device on this account. Choose another way to sign in."
    : "That method isn't set up on this account.",
  already_answered: () => "That request was already answered.",
  registration_used: () => "That registration was already used. Start again.",
  same_password: () => "Choose a new password that is different from your current one.",
  expired: () => "This request expired. Start again.",
  payload_too_large: () => "That's too much text. Shorten it and try again.",
  unavailable: (e) => `Latchkey is temporarily unavailable. Try again in ${waitText(e.retryAfter)}.`,
  too_many_attempts: (e) => `Too many attempts. Wait ${waitText(e.retryAfter)} and try again.`,
  network: (e) => e.message,
};

// For these the server's own sentence is the most specific one.
const preferServer = new Set(["invalid_request", "weak_password", "invalid_username"]);

export function errorMessage(error, context) {
  if (!error) return "";
  if (error.name === "ApiError") {
    if (preferServer.has(error.code) && error.message) return error.message;
    const f = friendly[error.code];
    if (f) return f(error, context);
    if (error.status === 429) return friendly.too_many_attempts(error);
    if (error.status === 503) return friendly.unavailable(error);
    if (error.message) return error.message;
    if (error.status >= 500) return "Something went wrong on our side. Try again in a moment.";
    return "That didn't work. Try again.";
  }
  // WebAuthn / DOMException from navigator.credentials
  switch (error.name) {
    case "NotAllowedError":
      return "The security key request was cancelled or timed out. Try again.";
    case "InvalidStateError":
      return context === "register"
        ? "This security key or passkey is already registered. Use a different one."
        : "This security key can't be used here. Try another one.";
    case "NotSupportedError":
      return "This browser or security key doesn't support what Latchkey asked for.";
    case "SecurityError":
      return "The browser refused the request for this site. Open Latchkey from its usual address.";
    case "AbortError":
      return "The security key request was cancelled.";
    default:
      return "Something went wrong. Try again.";
  }
}
