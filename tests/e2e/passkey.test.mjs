// Passkey sign-in without a password, clicked through in a real Chromium with CDP virtual
// authenticators: a passkey registered as the first device, then signing in with it alone
// (the button, then browser autofill), and a key that keeps no resident credential, which
// is no passkey but still a second factor. Steps run in order and share one account; a
// step whose earlier step failed is skipped, so the first failure is the one to read.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { launch, openPage, Authenticators, shot, BASE_URL } from "./lib/browser.mjs";
import { stepper } from "./lib/steps.mjs";

const me = {
  username: `e2e-passkey-${randomBytes(4).toString("hex")}@example.test`,
  password: `correct horse ${randomBytes(6).toString("hex")}`,
};

let browser;
let page;
let keys;

before(async () => {
  browser = await launch();
  ({ page } = await openPage(browser));
  // Every `navigator.credentials.get` the page makes, by its mediation: the autofill step
  // tells the waiting (conditional) request from a modal one by it.
  await page.addInitScript(() => {
    window.webauthnGets = [];
    const get = navigator.credentials.get.bind(navigator.credentials);
    navigator.credentials.get = (options) => {
      window.webauthnGets.push(options.mediation || "modal");
      return get(options);
    };
  });
  keys = await Authenticators.attach(page);
  await keys.add("phone", "internal", { resident: true });
  await keys.add("old key", "usb", { resident: false });
});

after(async () => {
  if (browser) await browser.close();
});

const only = (name) => keys.only(name);
const credentials = (name) => keys.credentials(name);

const step = stepper(() => page);

const heading = (text) => page.getByRole("heading", { level: 1, name: text });
const dialog = () => page.getByRole("dialog").last();
const passkeyButton = () => page.getByRole("button", { name: "Sign in with a passkey" });

async function signOut() {
  await page.getByRole("button", { name: "Sign out" }).click();
  await heading("Sign in").waitFor();
}

/** The settings page's words about each WebAuthn device, by name. */
async function passkeyStatus(name) {
  const item = page.locator('[data-testid="device"]', { hasText: name });
  return (await item.getByTestId("passkey-status").textContent()).trim();
}

const REGISTER = "register a passkey as the first device";
const BUTTON = "sign out, then sign in with the passkey alone (the button)";
const AUTOFILL = "sign in with the passkey from the username field's autofill";
const SECOND_FACTOR = "a key without resident credentials is no passkey, but still a second factor";

step(REGISTER, [], async () => {
  await page.goto(`${BASE_URL}/#/sign-up`);
  await heading("Create your account").waitFor();
  await page.getByLabel("Username").fill(me.username);
  await page.getByLabel("Password", { exact: true }).fill(me.password);
  await page.getByLabel("Confirm password").fill(me.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await heading("Set up two-step verification").waitFor();

  await only("phone");
  await page.locator(".choice", { hasText: "Security key or passkey" }).getByRole("button", { name: "Set up" }).click();
  await dialog().getByRole("textbox", { name: /^Name/ }).fill("Phone passkey");
  await dialog().getByRole("button", { name: "Continue" }).click();
  await heading("Save your recovery codes").waitFor();
  await page.getByLabel("I've saved my recovery codes somewhere safe.").check();
  await page.getByRole("button", { name: "Continue" }).click();
  await heading("Sign-in & security").waitFor();

  const [credential] = await credentials("phone");
  assert.ok(credential && credential.isResidentCredential, "the phone keeps a discoverable credential");
  assert.match(await passkeyStatus("Phone passkey"), /^Passkey\s+Signs you in on its own/);
  await shot(page, "settings with a passkey");
});

step(BUTTON, [REGISTER], async () => {
  // No authenticator answers while the page opens: Chromium's virtual authenticators would
  // answer the page's waiting autofill request at once (see the next step).
  await only(null);
  await signOut();
  const username = page.getByLabel("Username");
  assert.equal(await username.getAttribute("autocomplete"), "username webauthn");
  await shot(page, "sign in offers a passkey");
  await only("phone");
  // Nothing typed: the passkey names the account.
  await passkeyButton().click();
  await heading("Sign-in & security").waitFor();
  // The button aborted the page's waiting conditional request, then asked modally.
  assert.deepEqual(await page.evaluate(() => window.webauthnGets), ["conditional", "modal"]);
  await page.getByText(me.username, { exact: true }).waitFor();
  await page.locator('[data-testid="device"]', { hasText: "Phone passkey" }).getByText("Last used").waitFor();
  await page.getByText("You signed in with a passkey, without your password (“Phone passkey”).").first().waitFor();
});

step(AUTOFILL, [BUTTON], async () => {
  // The sign-in page asks with `mediation: "conditional"` as it opens, and that request
  // waits for the person to pick a passkey in the username field's autofill. Headless
  // Chromium draws no autofill menu, so there is nothing to click; instead its WebAuthn
  // test environment answers a conditional request itself, at once, when a virtual
  // authenticator that lets presence through holds a discoverable credential (and never
  // later: a request made while none did keeps waiting after one does). The nearest
  // thing to a pick is therefore: nobody answering, the page waits and signs nobody in;
  // the phone answering as the page opens, the waiting request itself signs in, with
  // nothing typed and no button pressed.
  await only(null);
  await signOut();
  const requests = [];
  const seen = (r) => { if (r.url().includes("/v1/login/passkey/")) requests.push(new URL(r.url()).pathname); };
  page.on("request", seen);
  await page.reload();
  await heading("Sign in").waitFor();
  await page.waitForFunction(() => window.webauthnGets.length === 1);
  assert.deepEqual(await page.evaluate(() => window.webauthnGets), ["conditional"]);
  await page.waitForTimeout(500);
  assert.deepEqual(requests, ["/v1/login/passkey/start"], "the page started a conditional request and waits");
  assert.ok(await heading("Sign in").isVisible(), "no sign-in without a pick");
  assert.equal(await page.getByRole("alert").count(), 0, "a waiting request shows no error");

  await only("phone");
  requests.length = 0;
  await page.reload();
  await heading("Sign-in & security").waitFor();
  page.off("request", seen);
  assert.deepEqual(requests, ["/v1/login/passkey/start", "/v1/login/passkey/finish"]);
  assert.deepEqual(await page.evaluate(() => window.webauthnGets), ["conditional"],
    "the conditional request, and no modal one, signed in");
});

step(SECOND_FACTOR, [REGISTER], async () => {
  // Adding a second device asks for the password.
  await only("old key");
  await page.locator(".methods li", { hasText: "Security key or passkey" }).getByRole("button", { name: "Register" }).click();
  await dialog().getByRole("textbox", { name: /^Name/ }).fill("Old key");
  await dialog().getByRole("button", { name: "Continue" }).click();
  const asked = page.getByRole("dialog", { name: "Confirm your password", exact: true });
  await asked.getByLabel("Your password").fill(me.password);
  await asked.getByRole("button", { name: "Confirm" }).click();
  await page.locator(".item-title", { hasText: "Old key" }).waitFor();
  const [credential] = await credentials("old key");
  assert.ok(credential && !credential.isResidentCredential, "the old key keeps no resident credential");
  assert.match(await passkeyStatus("Old key"), /can't sign you in on its own/);
  await shot(page, "settings with a passkey and a key that is not one");

  // Password first, then the old key as the second factor. It answers as the sign-in page
  // opens, but holds no passkey: the page's waiting request gets nothing and says nothing.
  await only("old key");
  await signOut();
  assert.equal(await page.getByRole("alert").count(), 0);
  await page.getByLabel("Username").fill(me.username);
  await page.getByLabel("Password", { exact: true }).fill(me.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await heading("Confirm it's you").waitFor();
  await page.getByRole("button", { name: "Use security key" }).click();
  await heading("Sign-in & security").waitFor();
  await page.locator('[data-testid="device"]', { hasText: "Old key" }).getByText("Last used").waitFor();
});
