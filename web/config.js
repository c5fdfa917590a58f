// Deployment settings for the Latchkey web app. Plain script, loaded before the app.
// apiBase: the API's base URL without "/v1", e.g. "https://api.example.com".
// Leave it empty to use the <meta name="latchkey-api"> value, and leave that empty
// to call the API on the same origin that serves these pages.
window.LATCHKEY_CONFIG = Object.assign({ apiBase: "" }, window.LATCHKEY_CONFIG || {});
