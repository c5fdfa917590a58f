// One person's life with Latchkey, clicked through in a real Chromium. The tests run in order
// and share the account: each later step needs the earlier ones, and is skipped (not failed)
// when one of them broke, so the first failure is the one to read.
//
// The push journeys belong to two more people, each with their own account and their own
// real push-agent (lib/push-agent.mjs), so they do not depend on the first person's steps.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { launch, openPage, Authenticators, shot, BASE_URL, PHONE_390 } from "./lib/browser.mjs";
import { AuthenticatorApp } from "./lib/totp.mjs";
import { PushAgent, agentProblem } from "./lib/push-agent.mjs";
import { stepper } from "./lib/steps.mjs";

function person(prefix) {
  return {
    username: `${prefix}-${randomBytes(4).toString("hex")}@example.test`,
    password: `correct horse ${randomBytes(6).toString("hex")}`,
    app: null, // AuthenticatorApp once registered
    codes: [], // current recovery codes, unused first
    oldCodes: [],
    agent: null, // PushAgent once enrolled
  };
}

const me = person("e2e");
const approver = person("e2e-push"); // adds push from settings, approves a sign-in
const denier = person("e2e-deny"); // sets push up first, denies sign-ins

let browser;
let page;
let keys;

before(async () => {
  browser = await launch();
  ({ page } = await openPage(browser));
  keys = await Authenticators.attach(page);
  await keys.add("yubikey", "usb");
  await keys.add("laptop", "internal");
});

after(async () => {
  for (const who of [approver, denier]) {
    if (who.agent) await who.agent.stop();
  }
  if (browser) await browser.close();
});

/**
 * A journey step (lib/steps.mjs). After a failure the page is reloaded on the settings
 * route so the next step starts from a known place.
 */
const step = stepper(() => page, async () => {
  await page.goto(`${BASE_URL}/#/settings`).catch(() => {});
  await page.reload().catch(() => {}); // same URL: goto alone would keep an open dialog
  await page.getByRole("heading", { level: 1 }).waitFor().catch(() => {});
});
const { passed } = step;

const SIGN_UP = "sign up and land on the setup-required step";
const APP = "register the authenticator app and get the recovery codes";
const RENAME = "rename the authenticator app";
const SUDO_KEY = "add a security key beside the app: the password is asked for (cancel, wrong, right)";
const KEYS = "add a second security key: no new password check within minutes";
const REGEN = "regenerate recovery codes after the password (cancel keeps the old ones); an old one is refused at sign-in";
const REMOVE_KEY = "remove a security key: wrong password, then the right one";
const REMOVE_ALL = "remove every device; the next sign-in asks for setup";

// What a person does -------------------------------------------------------------------------

const heading = (text) => page.getByRole("heading", { level: 1, name: text });
// The top dialog: "Confirm your password" opens above the dialog whose action asked for it.
const dialog = () => page.getByRole("dialog").last();
const namedDialog = (name) => page.getByRole("dialog", { name, exact: true });
const passwordDialog = () => namedDialog("Confirm your password");

/**
 * Waits for the open dialog(s) to close; fails at once with the message if one shows an
 * error, or if the page asks for the password where the journey does not expect it.
 */
async function dialogDone() {
  const alert = dialog().getByRole("alert");
  await Promise.race([
    dialog().waitFor({ state: "detached" }).catch(() => {}),
    alert.waitFor({ state: "visible" }).catch(() => {}),
    passwordDialog().waitFor().catch(() => {}),
  ]);
  if (await passwordDialog().count()) {
    throw new Error("the page asked for the password (\"Confirm your password\") where this journey expects no check");
  }
  if ((await dialog().count()) && (await alert.isVisible())) {
    throw new Error(`the dialog says: ${(await alert.textContent()).trim()}`);
  }
  await dialog().waitFor({ state: "detached" });
}

/**
 * Answers the "Confirm your password" dialog (opened by an action the server wants a recent
 * password check for) and waits until it has closed and the action went on.
 */
async function confirmPassword(password = me.password) {
  const asked = passwordDialog();
  await asked.waitFor();
  const box = asked.getByLabel("Your password");
  assert.equal(await box.getAttribute("autocomplete"), "current-password");
  await box.fill(password);
  await asked.getByRole("button", { name: "Confirm" }).click();
  const alert = asked.getByRole("alert");
  await Promise.race([
    asked.waitFor({ state: "detached" }).catch(() => {}),
    alert.waitFor({ state: "visible" }).catch(() => {}),
  ]);
  if ((await asked.count()) && (await alert.isVisible())) {
    throw new Error(`the password dialog says: ${(await alert.textContent()).trim()}`);
  }
  await asked.waitFor({ state: "detached" });
}

/** Closes the password dialog with Cancel; the dialog under it stays, showing no error. */
async function cancelPassword(under) {
  await passwordDialog().waitFor();
  await passwordDialog().getByRole("button", { name: "Cancel" }).click();
  await passwordDialog().waitFor({ state: "detached" });
  await under.waitFor();
  assert.equal(await under.getByRole("alert").isVisible(), false, "cancelling shows no error");
}

// The API as another client sees it (Node's fetch, no browser): for checks a person cannot
// make on the page. 127.0.0.1 rather than localhost: Node need not pick IPv4 for the name.
const API_URL = BASE_URL.replace("//localhost", "//127.0.0.1");
async function apiPost(path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${API_URL}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** Signs `who` in through the API with a recovery code; true when that code let them in. */
async function recoveryCodeSignsIn(who, code) {
  const login = await apiPost("/v1/login", { username: who.username, password: who.password });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  assert.equal(login.body.status, "mfa_required");
  const res = await apiPost("/v1/login/recovery-code", { mfa_token: login.body.mfa_token, code });
  const token = res.body && res.body.session && res.body.session.token;
  if (token) await apiPost("/v1/logout", {}, token);
  return res.status === 200 && res.body.status === "authenticated";
}

async function expectHeading(text) {
  await heading(text).waitFor();
}

async function ensureSignedOut() {
  await page.goto(`${BASE_URL}/#/sign-in`);
  await page.getByRole("heading", { level: 1 }).waitFor();
  if (await page.getByRole("button", { name: "Sign out" }).isVisible()) await signOut();
}

async function signIn(password, who = me) {
  password ??= who.password;
  await ensureSignedOut();
  await expectHeading("Sign in");
  await page.getByLabel("Username").fill(who.username);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

async function signOut() {
  await page.getByRole("button", { name: "Sign out" }).click();
  await expectHeading("Sign in");
  await page.getByText("You signed out.").waitFor();
}

/** On "Confirm it's you": switch to a method unless it is already the one shown. */
async function chooseMethod(label) {
  await expectHeading("Confirm it's you");
  const shown = page.getByRole("heading", { level: 2, name: label });
  if (!(await shown.isVisible())) {
    await page.getByRole("navigation", { name: "Other ways to sign in" }).getByRole("button", { name: label }).click();
    await shown.waitFor();
  }
}

function deviceItems() {
  return page.locator('[data-testid="device"]');
}

async function deviceNames() {
  return deviceItems().locator(".item-title").allTextContents();
}

async function readCodes(scope) {
  const codes = await scope.getByTestId("recovery-code").allTextContents();
  assert.equal(codes.length, 10, "ten recovery codes are shown");
  for (const c of codes) assert.match(c, /^[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{5}$/);
  assert.equal(new Set(codes).size, 10, "the codes differ");
  return codes;
}

/** Fills the open authenticator-app dialog; `where` names its screenshots (none when null). */
async function registerAuthenticatorApp(where, { name, expectCodes, who = me }) {
  const secretText = await dialog().getByTestId("totp-secret").textContent();
  assert.match(secretText.replace(/\s+/g, ""), /^[A-Z2-7]{32}$/, "a 160-bit base32 secret is shown");
  await dialog().getByRole("img", { name: /QR code/ }).waitFor();
  who.app = new AuthenticatorApp(secretText);
  if (where) await shot(page, `${where} authenticator app QR`);

  const codeBox = dialog().getByLabel("6-digit code from the app");
  await codeBox.fill(who.app.wrongCode());
  await dialog().getByRole("button", { name: "Add authenticator app" }).click();
  await dialog().getByRole("alert").getByText("That code isn't right").waitFor();
  if (where) await shot(page, `${where} authenticator app wrong code`);

  await codeBox.fill(await who.app.code());
  if (name) await dialog().getByRole("textbox", { name: /^Name/ }).fill(name);
  await dialog().getByRole("button", { name: "Add authenticator app" }).click();
  await dialogDone();
  if (expectCodes) {
    await expectHeading("Save your recovery codes");
  }
}

// The journeys -------------------------------------------------------------------------------

step(SIGN_UP, [], async () => {
  await page.goto(`${BASE_URL}/`);
  await expectHeading("Sign in");
  await shot(page, "sign in");
  await page.getByRole("link", { name: "Create an account" }).click();
  await expectHeading("Create your account");
  await page.getByLabel("Username").fill(me.username);
  await page.getByLabel("Password", { exact: true }).fill(me.password);
  await page.getByLabel("Confirm password").fill(`${me.password}x`);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("alert").getByText("The two passwords don't match.").waitFor();
  await shot(page, "sign up passwords differ");
  await page.getByLabel("Confirm password").fill(me.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expectHeading("Set up two-step verification");
  assert.ok(!page.url().includes(me.password), "no secret in the URL");
  await shot(page, "setup required");
});

step(APP, [SIGN_UP], async () => {
  await page.locator(".choice", { hasText: "Authenticator app" }).getByRole("button", { name: "Set up" }).click();
  await registerAuthenticatorApp("setup", { expectCodes: true });
  me.codes = await readCodes(page);
  await shot(page, "first recovery codes");

  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Download .txt" }).click();
  const file = await download;
  assert.equal(file.suggestedFilename(), "latchkey-recovery-codes.txt");
  const text = await (await file.createReadStream()).toArray().then((c) => Buffer.concat(c).toString("utf8"));
  for (const c of me.codes) assert.ok(text.includes(c), "the download holds every code");

  await page.getByRole("button", { name: "Copy codes" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), me.codes.join("\n"));

  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("alert").getByText("Confirm that you've saved").waitFor();
  await page.getByLabel("I've saved my recovery codes somewhere safe.").check();
  await page.getByRole("button", { name: "Continue" }).click();
  await expectHeading("Sign-in & security");
  assert.equal(await deviceItems().count(), 1);
  assert.match(await page.getByTestId("codes-remaining").textContent(), /^10 of 10 codes left/);
  await shot(page, "settings with one device");
});

step(RENAME, [APP], async () => {
  const [name] = await deviceNames();
  await page.getByRole("button", { name: `Edit ${name}` }).click();
  await dialog().getByRole("heading", { name: "Edit authenticator app" }).waitFor();
  await shot(page, "edit device dialog (last device)");
  await dialog().getByText("This is your only device.").waitFor();
  await dialog().getByRole("textbox", { name: /^Name/ }).fill("Work phone");
  await dialog().getByRole("button", { name: "Save name" }).click();
  await dialogDone();
  await page.locator(".item-title", { hasText: "Work phone" }).waitFor();
  assert.deepEqual(await deviceNames(), ["Work phone"]);
});

const registerKey = () => page.locator(".methods li", { hasText: "Security key or passkey" }).getByRole("button", { name: "Register" });

step(SUDO_KEY, [APP], async () => {
  // This session began with a sign-in, which is no recent password check, and the account
  // has a device already: adding another one asks for the password first.
  await keys.only("yubikey");
  await registerKey().click();
  const addKey = namedDialog("Add a security key or passkey");
  await addKey.waitFor();
  await addKey.getByRole("textbox", { name: /^Name/ }).fill("YubiKey");
  await shot(page, "add security key dialog");
  await addKey.getByRole("button", { name: "Continue" }).click();

  await passwordDialog().waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute("autocomplete")), "current-password",
    "the password field has focus");
  await passwordDialog().getByText("Enter your password to continue").waitFor();
  await shot(page, "confirm your password");
  // Cancel: nothing happens. The key dialog stays as it was and no key was asked for.
  await cancelPassword(addKey);
  assert.equal((await keys.credentials("yubikey")).length, 0, "no credential was made");
  assert.equal(await deviceItems().count(), 1);

  // A wrong password: said in the dialog, which stays open for another try.
  await addKey.getByRole("button", { name: "Continue" }).click();
  await passwordDialog().getByLabel("Your password").fill("not my password");
  await passwordDialog().getByRole("button", { name: "Confirm" }).click();
  await passwordDialog().getByRole("alert").getByText("That password isn't right. Try again.").waitFor();
  assert.equal(await passwordDialog().getByLabel("Your password").inputValue(), "", "the wrong password is cleared");
  await shot(page, "confirm your password wrong password");

  // The right one: the key is then added without another click.
  await confirmPassword();
  await dialogDone();
  await page.locator(".item-title", { hasText: "YubiKey" }).waitFor();
  assert.equal((await keys.credentials("yubikey")).length, 1, "the YubiKey holds one credential");
  assert.equal(await deviceItems().count(), 2);
});

step(KEYS, [SUDO_KEY], async () => {
  // The password was confirmed a moment ago: for five minutes this session is not asked again.
  const register = registerKey();
  await keys.only("laptop");
  await register.click();
  await dialog().getByRole("textbox", { name: /^Name/ }).fill("Laptop passkey");
  await dialog().getByRole("button", { name: "Continue" }).click();
  await dialogDone();
  await page.locator(".item-title", { hasText: "Laptop passkey" }).waitFor();
  assert.equal((await keys.credentials("laptop")).length, 1, "the laptop holds one credential");

  const names = await deviceNames();
  assert.equal(names.length, 3);
  assert.ok(names.includes("YubiKey") && names.includes("Laptop passkey"), names.join(", "));
  // The authenticator app is at its max of one: its Register button says why it is off.
  const totpRow = page.locator(".methods li", { hasText: "Authenticator app" });
  assert.ok(await totpRow.getByRole("button", { name: "Register" }).isDisabled());
  await totpRow.getByText("You already have an authenticator app.").waitFor();
  await shot(page, "settings with three devices");
});

step("sign in with each security key in turn", [KEYS], async () => {
  for (const [key, name] of [["laptop", "Laptop passkey"], ["yubikey", "YubiKey"]]) {
    await signOut();
    await keys.only(key);
    await signIn();
    await chooseMethod("Use a security key or passkey");
    await page.getByRole("button", { name: "Use security key" }).click();
    await expectHeading("Sign-in & security");
    await deviceItems().filter({ hasText: name }).getByText("Last used").waitFor();
  }
});

step(REGEN, [APP], async () => {
  // A fresh session (a sign-in is no recent password check), so the page has to ask.
  await signIn();
  await chooseMethod("Enter a code from your authenticator app");
  await page.getByLabel("6-digit code").fill(await me.app.code());
  await page.getByRole("button", { name: "Verify" }).click();
  await expectHeading("Sign-in & security");

  await page.getByRole("button", { name: "Regenerate" }).click();
  const question = namedDialog("Generate new recovery codes?");
  await question.waitFor();
  await shot(page, "regenerate confirmation");
  await question.getByRole("button", { name: "Generate new codes" }).click();
  await passwordDialog().waitFor();
  await shot(page, "regenerate asks for the password");
  // Cancel: the codes stay as they were, and an old one still signs in.
  await cancelPassword(question);
  assert.match(await page.getByTestId("codes-remaining").textContent(), /^10 of 10/);
  assert.ok(await recoveryCodeSignsIn(me, me.codes.shift()), "after Cancel an old recovery code still works");

  await question.getByRole("button", { name: "Generate new codes" }).click();
  await confirmPassword();
  await dialog().getByRole("heading", { name: "Your new recovery codes" }).waitFor();
  me.oldCodes = me.codes;
  me.codes = await readCodes(dialog());
  assert.ok(!me.codes.some((c) => me.oldCodes.includes(c)), "all codes are new");
  await shot(page, "new recovery codes");
  await dialog().getByRole("button", { name: "Done" }).click();
  await dialogDone();
  assert.match(await page.getByTestId("codes-remaining").textContent(), /^10 of 10/);

  await signOut();
  await signIn();
  await chooseMethod("Use a recovery code");
  await page.getByLabel("Recovery code").fill(me.oldCodes[0].toUpperCase());
  await page.getByRole("button", { name: "Verify" }).click();
  await page.getByRole("alert").getByText("That recovery code isn't valid").waitFor();
  await shot(page, "old recovery code refused");
  await page.getByLabel("Recovery code").fill(me.codes.shift());
  await page.getByRole("button", { name: "Verify" }).click();
  await expectHeading("Sign-in & security");
  await page.getByText("You have 9 recovery codes left.").waitFor();
  assert.match(await page.getByTestId("codes-remaining").textContent(), /^9 of 10/);
});

step(REMOVE_KEY, [KEYS], async () => {
  await page.getByRole("button", { name: "Edit Laptop passkey" }).click();
  await dialog().getByRole("heading", { name: "Edit security key or passkey" }).waitFor();
  assert.equal(await dialog().getByText("This is your only device.").count(), 0, "no last-device warning with three devices");
  await dialog().getByLabel("Your password").fill("not my password");
  await dialog().getByRole("button", { name: "Remove device" }).click();
  await dialog().getByRole("alert").getByText("That password isn't right").waitFor();
  await shot(page, "remove device wrong password");
  await dialog().getByLabel("Your password").fill(me.password);
  await dialog().getByRole("button", { name: "Remove device" }).click();
  await dialogDone();
  await page.locator(".item-title", { hasText: "Laptop passkey" }).waitFor({ state: "detached" });
  const names = await deviceNames();
  assert.equal(names.length, 2);
  assert.ok(names.includes("YubiKey") && !names.includes("Laptop passkey"), names.join(", "));
});

step("security activity reads as sentences", [REGEN], async () => {
  const activity = page.locator("section", { has: page.getByRole("heading", { name: "Recent security activity" }) });
  const more = activity.getByRole("button", { name: /^Show all \d+ events$/ });
  if (await more.isVisible()) await more.click();
  await activity.getByText("You generated new recovery codes.").first().waitFor();
  // Twice: the old code tried through the API after Cancel, then a new one at sign-in.
  await activity.getByText("A recovery code was used to sign in.").nth(1).waitFor();
  if (passed.has(REMOVE_KEY)) await activity.getByText("You removed").first().waitFor();
  if (passed.has(RENAME)) await activity.getByText("You renamed").first().waitFor();
  const text = await activity.textContent();
  assert.ok(!/[{}"]|_/.test(text.replace(/“[^”]*”/g, "")), `no raw event names or JSON: ${text}`);
  await activity.scrollIntoViewIfNeeded();
  await shot(page, "settings full page with activity");
});

step("sign out; a wrong password reads as a sentence", [APP], async () => {
  await signOut();
  await shot(page, "signed out");
  await signIn("wrong password!");
  await page.getByRole("alert").getByText("That username and password don't match.").waitFor();
  assert.ok(!(await page.getByRole("alert").textContent()).includes("{"), "no raw JSON");
  await shot(page, "sign in wrong password");
});

step("sign in with the authenticator app", [APP], async () => {
  await signIn();
  await chooseMethod("Enter a code from your authenticator app");
  await shot(page, "second step: authenticator app");
  await page.getByLabel("6-digit code").fill(me.app.wrongCode());
  await page.getByRole("button", { name: "Verify" }).click();
  await page.getByRole("alert").getByText("That code isn't right").waitFor();
  await page.getByLabel("6-digit code").fill(await me.app.code());
  await page.getByRole("button", { name: "Verify" }).click();
  await expectHeading("Sign-in & security");
  await signOut();
});

step("sign in with a security key", [KEYS], async () => {
  await keys.only("yubikey");
  await signIn();
  await chooseMethod("Use a security key or passkey");
  await shot(page, "second step: security key");
  await page.getByRole("button", { name: "Use security key" }).click();
  await expectHeading("Sign-in & security");
  const yubikey = deviceItems().filter({ hasText: "YubiKey" });
  await yubikey.getByText("Last used").waitFor();
  await signOut();
});

/** Presses Tab until the focused element has this accessible name (proves it is reachable). */
async function tabTo(name, limit = 25) {
  for (let i = 0; i < limit; i += 1) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el) return "";
      const label = el.labels && el.labels[0] ? el.labels[0].textContent : "";
      return (el.getAttribute("aria-label") || label || el.textContent || "").trim();
    });
    if (focused === name || focused.startsWith(`${name} (`)) return;
  }
  throw new Error(`"${name}" is not reachable with Tab`);
}

step("sign in with a recovery code, using only the keyboard", [REGEN], async () => {
  await page.goto(`${BASE_URL}/#/sign-in`);
  await page.getByRole("heading", { level: 1 }).waitFor();
  if (await page.getByRole("button", { name: "Sign out" }).isVisible()) await signOut();
  await page.reload(); // a fresh page: focus starts in the username field
  await expectHeading("Sign in");
  // The username field has focus when the page opens.
  await page.keyboard.type(me.username);
  await tabTo("Password");
  await page.keyboard.type(me.password);
  await page.keyboard.press("Enter");
  await expectHeading("Confirm it's you");
  await tabTo("Use a recovery code");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 2, name: "Use a recovery code" }).waitFor();
  await shot(page, "second step: recovery code");
  // Switching method puts focus in the new form.
  assert.equal(await page.evaluate(() => document.activeElement.name), "recovery-code");
  await page.keyboard.type(me.codes.shift().replace(/-/g, " "));
  await page.keyboard.press("Enter");
  await expectHeading("Sign-in & security");
  await page.getByText("You have 8 recovery codes left.").waitFor();
  await signOut();
});

// Push: two more people, each with a real push-agent -----------------------------------------
// The agent is the phone: the dev server publishes each login push to moto's SNS, which POSTs
// it to the agent's loopback port; the test answers with `push-agent approve|deny`, as a
// person would at the agent's prompt.

const AGENT = "the push-agent is built";
const PUSH_ENROLL = "register a push device from settings; a real push-agent enrolls";
const PUSH_APPROVE = "sign in with a push: type the number shown on the device";
const PUSH_SETUP = "set up push as the first device; recovery codes follow";
const PUSH_DENY = "a push denied on the device says so, and offers a new push or another way";

/** Creates `who`'s account through the sign-up page; ends on the setup-required step. */
async function signUp(who) {
  await ensureSignedOut();
  await page.getByRole("link", { name: "Create an account" }).click();
  await expectHeading("Create your account");
  await page.getByLabel("Username").fill(who.username);
  await page.getByLabel("Password", { exact: true }).fill(who.password);
  await page.getByLabel("Confirm password").fill(who.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expectHeading("Set up two-step verification");
}

/** On the first recovery codes page: keeps the codes, ticks the box, continues to settings. */
async function keepFirstCodes(who) {
  await expectHeading("Save your recovery codes");
  who.codes = await readCodes(page);
  await page.getByLabel("I've saved my recovery codes somewhere safe.").check();
  await page.getByRole("button", { name: "Continue" }).click();
  await expectHeading("Sign-in & security");
}

/**
 * In the open "Add a push device" dialog: asks for the QR code, reads the registration link
 * shown beside it, enrolls a real push-agent with it, and waits until the page notices.
 */
async function enrollPushAgent(who, { name, where, password }) {
  await dialog().getByRole("heading", { name: "Add a push device" }).waitFor();
  if (name) await dialog().getByRole("textbox", { name: /^Name/ }).fill(name);
  await dialog().getByRole("button", { name: "Show QR code" }).click();
  // Beside an existing device the registration starts only after a password check.
  if (password === "before") await confirmPassword(who.password);
  await dialog().getByRole("img", { name: "QR code for the Latchkey push app" }).waitFor();
  await dialog().getByRole("status").getByText("Waiting for your device to finish").waitFor();
  await dialog().getByText(/^The code expires in \d+:\d\d\.$/).waitFor();
  const uri = (await dialog().getByTestId("push-uri").textContent()).trim();
  const parsed = new URL(uri);
  assert.equal(`${parsed.protocol}//${parsed.host}${parsed.pathname}`, "latchkey-push://enroll");
  assert.equal(parsed.searchParams.get("user"), who.username, "the link names the account");
  for (const p of ["api", "rid", "secret", "server_key"]) assert.ok(parsed.searchParams.get(p), `the link carries ${p}`);
  await shot(page, `${where} push QR code and link`);

  who.agent = await PushAgent.enroll(uri, { label: where });
  assert.ok(who.agent.deviceId, "the agent printed its device id");
  if (password === "after") {
    // A first push device: the page then replaces the codes it never saw, which needs a
    // password check (the session's sign-in does not count).
    await namedDialog("Add a push device").waitFor({ state: "detached" });
    await confirmPassword(who.password);
    return;
  }
  await dialogDone(); // the dialog polls the device list and closes once the device is there
}

/** The number the browser shows for the push just sent, as a person would type it. */
async function shownNumber() {
  await page.getByRole("status").getByText("Waiting for your approval").waitFor();
  const number = (await page.getByTestId("push-number").textContent()).replace(/\s+/g, "");
  assert.match(number, /^\d{2,8}$/, "a number of digits is shown");
  return number;
}

const pushDenied = () => page.getByRole("alert").getByText("The sign-in was denied on your device, or the number typed there didn't match.");

step(AGENT, [], async () => {
  const problem = agentProblem();
  assert.equal(problem, null, problem);
});

step(PUSH_ENROLL, [AGENT], async () => {
  await signUp(approver);
  await page.locator(".choice", { hasText: "Authenticator app" }).getByRole("button", { name: "Set up" }).click();
  await registerAuthenticatorApp(null, { who: approver, expectCodes: true });
  await keepFirstCodes(approver);

  const pushRow = page.locator(".methods li", { hasText: "Push notification" });
  await pushRow.getByRole("button", { name: "Register" }).click();
  await enrollPushAgent(approver, { name: "Test phone", where: "settings", password: "before" });
  const device = deviceItems().filter({ hasText: "Test phone" });
  await device.waitFor();
  await device.getByText("Never used").waitFor();
  assert.equal(await deviceItems().count(), 2);
  // One push device is the limit: the Register button is off and says why.
  assert.ok(await pushRow.getByRole("button", { name: "Register" }).isDisabled());
  await pushRow.getByText("You already have a push device. Remove it to add another.").waitFor();
  await shot(page, "settings with a push device");
});

step(PUSH_APPROVE, [PUSH_ENROLL], async () => {
  await signIn(undefined, approver);
  await chooseMethod("Get a push notification");
  await shot(page, "second step: push");
  await page.getByRole("button", { name: "Send push" }).click();
  const number = await shownNumber();
  await page.getByText(/^This request expires in \d+:\d\d\.$/).waitFor();
  await page.getByRole("button", { name: "Resend" }).waitFor();
  await shot(page, "push number shown, waiting for the device");

  const push = await approver.agent.nextPush();
  assert.equal(push.username, approver.username, "the device shows who is signing in");
  assert.ok(push.user_agent.includes("Chrome"), `the device shows the browser: ${push.user_agent}`);
  assert.equal(await approver.agent.approve(push.push_id, number), "approved");
  await expectHeading("Sign-in & security"); // the page notices on its own
  await deviceItems().filter({ hasText: "Test phone" }).getByText("Last used").waitFor();
  await signOut();
});

step(PUSH_SETUP, [AGENT], async () => {
  await signUp(denier);
  await page.locator(".choice", { hasText: "Push notification" }).getByRole("button", { name: "Set up" }).click();
  await enrollPushAgent(denier, { where: "setup", password: "after" });
  await expectHeading("Save your recovery codes");
  await shot(page, "recovery codes after push setup");
  await keepFirstCodes(denier);
  assert.equal(await deviceItems().count(), 1);
  await deviceItems().filter({ hasText: "Push notification" }).waitFor();
  await signOut();
});

step(PUSH_DENY, [PUSH_SETUP], async () => {
  await signIn(undefined, denier);
  await chooseMethod("Get a push notification"); // the only device: shown first
  await page.getByRole("button", { name: "Send push" }).click();
  await shownNumber();
  let push = await denier.agent.nextPush();
  assert.equal(await denier.agent.deny(push.push_id), "denied");
  await pushDenied().waitFor();
  assert.equal(await page.getByTestId("push-number").count(), 0, "the number is gone");
  await page.getByRole("navigation", { name: "Other ways to sign in" }).getByRole("button", { name: "Use a recovery code" }).waitFor();
  await shot(page, "push denied");

  // A new push; on the device, the wrong number: that is a denial too.
  await page.getByRole("button", { name: "Send a new push" }).click();
  const number = await shownNumber();
  push = await denier.agent.nextPush();
  const wrong = number.slice(0, -1) + String((Number(number.at(-1)) + 1) % 10);
  assert.equal(await denier.agent.approve(push.push_id, wrong), "denied", "a wrong number counts as a denial");
  await pushDenied().waitFor();

  // Another way in.
  await chooseMethod("Use a recovery code");
  await page.getByLabel("Recovery code").fill(denier.codes.shift());
  await page.getByRole("button", { name: "Verify" }).click();
  await expectHeading("Sign-in & security");
  const activity = page.locator("section", { has: page.getByRole("heading", { name: "Recent security activity" }) });
  await activity.getByText("A push sign-in request was denied on your device.").first().waitFor();
  assert.equal(await activity.getByText("A push sign-in request was denied on your device.").count(), 2, "both denials are listed");
  await signOut();
});

step(REMOVE_ALL, [APP], async () => {
  await signIn();
  await chooseMethod("Use a recovery code");
  await page.getByLabel("Recovery code").fill(me.codes.shift());
  await page.getByRole("button", { name: "Verify" }).click();
  await expectHeading("Sign-in & security");

  for (let left = await deviceItems().count(); left > 0; left -= 1) {
    const [name] = await deviceNames();
    await page.getByRole("button", { name: `Edit ${name}` }).click();
    if (left === 1) {
      await dialog().getByText("This is your only device.").waitFor();
      await shot(page, "remove last device warning");
    }
    await dialog().getByLabel("Your password").fill(me.password);
    await dialog().getByRole("button", { name: "Remove device" }).click();
    await dialogDone();
    await page.locator('[data-testid="device"] .item-title', { hasText: name }).waitFor({ state: "detached" });
  }
  await page.getByText("You have no devices left").waitFor();
  await shot(page, "settings with no devices");
  await signOut();
  await signIn();
  await expectHeading("Set up two-step verification");
});

step("turn two-step verification off and back on", [REMOVE_ALL], async () => {
  // Setup scope allows only registration: add the app again to reach settings.
  await page.locator(".choice", { hasText: "Authenticator app" }).getByRole("button", { name: "Set up" }).click();
  await registerAuthenticatorApp("again", { name: "Phone again", expectCodes: false });
  await expectHeading("Sign-in & security"); // codes still exist, so none are shown again

  await page.getByRole("button", { name: "Turn off" }).click();
  await dialog().getByRole("heading", { name: "Turn off two-step verification?" }).waitFor();
  await dialog().getByText("Your account will be protected by your password alone.").waitFor();
  await shot(page, "turn off confirmation");
  await dialog().getByLabel("Your password").fill(me.password);
  await dialog().getByRole("button", { name: "Turn off two-step verification" }).click();
  await dialogDone();
  await page.getByText("Two-step verification is off. Anyone who learns your password").waitFor();
  await shot(page, "settings with MFA off");

  await signOut();
  await signIn();
  await expectHeading("Sign-in & security"); // password alone

  await page.getByRole("button", { name: "Turn on" }).click();
  await dialog().getByLabel("Your password").fill(me.password);
  await dialog().getByRole("button", { name: "Turn on two-step verification" }).click();
  await dialogDone();
  await page.getByText("Two-step verification is on.", { exact: true }).waitFor();

  await signOut();
  await signIn();
  await chooseMethod("Enter a code from your authenticator app");
  await page.getByLabel("6-digit code").fill(await me.app.code());
  await page.getByRole("button", { name: "Verify" }).click();
  await expectHeading("Sign-in & security");
  await signOut();
});

// Where you're signed in, and the password: a fourth person ----------------------------------
// Other browsers are other clients of the API (Node's fetch with their User-Agent), so the
// list shows sessions from elsewhere; the person signs in with the password alone (MFA off).

const roamer = person("e2e-sessions");
const IPHONE_SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

async function api(method, path, { body, token, userAgent } = {}) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  if (userAgent) headers["user-agent"] = userAgent;
  const res = await fetch(`${API_URL}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** Signs `who` in from another browser (MFA is off): that session's token. */
async function signInElsewhere(who, userAgent, password = who.password) {
  const r = await api("POST", "/v1/login", { body: { username: who.username, password }, userAgent });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, "authenticated");
  return r.body.session.token;
}

const stillSignedIn = async (token) => (await api("GET", "/v1/me", { token })).status === 200;

function sessionItems() {
  return page.locator('[data-testid="session"]');
}

const SESSIONS = "see where you're signed in; sign out one session, then all the others";
const PASSWORD_CHANGE = "change the password: other sessions end, the old password stops working";

step(SESSIONS, [], async () => {
  // The account, through the API: an authenticator app as its first device, then MFA off.
  assert.equal((await api("POST", "/v1/accounts", { body: { username: roamer.username, password: roamer.password } })).status, 201);
  const setup = (await api("POST", "/v1/login", { body: { username: roamer.username, password: roamer.password } })).body.session.token;
  const start = await api("POST", "/v1/mfa/totp", { body: {}, token: setup });
  roamer.app = new AuthenticatorApp(start.body.secret);
  const confirm = await api("POST", "/v1/mfa/totp/confirm", {
    body: { registration_id: start.body.registration_id, code: await roamer.app.code() }, token: setup });
  assert.equal(confirm.status, 201, JSON.stringify(confirm.body));
  const off = await api("PUT", "/v1/mfa/settings", { body: { mfa_enabled: false, password: roamer.password }, token: setup });
  assert.equal(off.status, 200, JSON.stringify(off.body));
  await api("POST", "/v1/logout", { token: setup });

  const phone = await signInElsewhere(roamer, IPHONE_SAFARI);
  const firefox = await signInElsewhere(roamer, LINUX_FIREFOX);
  await signIn(roamer.password, roamer);
  await expectHeading("Sign-in & security");

  const card = page.locator("section", { has: page.getByRole("heading", { name: "Where you're signed in" }) });
  await sessionItems().nth(2).waitFor();
  assert.equal(await sessionItems().count(), 3);
  // Newest first: this browser, then Firefox, then the phone.
  const current = sessionItems().first();
  assert.equal(await current.getAttribute("data-current"), "true");
  await current.getByText("This device").waitFor();
  await current.getByText("Active now").waitFor();
  const titles = await sessionItems().locator(".item-title").allTextContents();
  assert.match(titles[1], /^Firefox on Linux/);
  assert.match(titles[2], /^Safari on iOS/);
  for (const ip of await sessionItems().locator(".session-ip").allTextContents()) assert.equal(ip, "127.0.0.1");
  await sessionItems().nth(1).getByText("Last active").waitFor();
  await card.scrollIntoViewIfNeeded();
  await shot(page, "where you're signed in", { also: [PHONE_390] });

  // Sign out the Firefox session: it ends at once; the others stay.
  await sessionItems().filter({ hasText: "Firefox on Linux" }).getByRole("button", { name: "Sign out" }).click();
  await page.getByText("Signed out of Firefox on Linux.").waitFor();
  await sessionItems().filter({ hasText: "Firefox on Linux" }).waitFor({ state: "detached" });
  assert.equal(await stillSignedIn(firefox), false, "the Firefox session ended");
  assert.equal(await stillSignedIn(phone), true, "the phone's did not");

  // Then everything but this browser.
  await signInElsewhere(roamer, LINUX_FIREFOX);
  await page.reload();
  await sessionItems().nth(2).waitFor();
  await card.getByRole("button", { name: "Sign out of all other sessions" }).click();
  const question = namedDialog("Sign out everywhere else?");
  await question.getByText("2 other sessions will have to sign in again.").waitFor();
  await shot(page, "sign out everywhere else confirmation", { also: [PHONE_390] });
  await question.getByRole("button", { name: "Sign out other sessions" }).click();
  await dialogDone();
  await page.getByText("Signed out of 2 other sessions.").waitFor();
  await sessionItems().nth(1).waitFor({ state: "detached" });
  assert.equal(await sessionItems().count(), 1);
  assert.equal(await stillSignedIn(phone), false, "the phone's session ended");
  assert.equal(await card.getByRole("button", { name: "Sign out of all other sessions" }).count(), 0,
    "nothing else to sign out of");
  await card.scrollIntoViewIfNeeded();
  await shot(page, "signed in here only", { also: [PHONE_390] });
});

step(PASSWORD_CHANGE, [SESSIONS], async () => {
  const firefox = await signInElsewhere(roamer, LINUX_FIREFOX);
  await page.getByRole("button", { name: "Change password" }).click();
  const form = namedDialog("Change your password");
  await form.waitFor();
  assert.equal(await form.getByLabel("Current password").getAttribute("autocomplete"), "current-password");
  assert.equal(await form.getByLabel("New password", { exact: true }).getAttribute("autocomplete"), "new-password");
  await shot(page, "change password dialog", { also: [PHONE_390] });
  const fresh = `new horse ${randomBytes(6).toString("hex")}`;

  // Mistakes the page catches, then the ones the server does.
  await form.getByLabel("Current password").fill(roamer.password);
  await form.getByLabel("New password", { exact: true }).fill(fresh);
  await form.getByLabel("New password again").fill(`${fresh}x`);
  await form.getByRole("button", { name: "Change password" }).click();
  await form.getByRole("alert").getByText("The new passwords don't match.").waitFor();
  await form.getByLabel("New password", { exact: true }).fill(roamer.username);
  await form.getByLabel("New password again").fill(roamer.username);
  await form.getByRole("button", { name: "Change password" }).click();
  await form.getByRole("alert").getByText("the password must not be the username").waitFor();
  await form.getByLabel("Current password").fill("not my password");
  await form.getByLabel("New password", { exact: true }).fill(fresh);
  await form.getByLabel("New password again").fill(fresh);
  await form.getByRole("button", { name: "Change password" }).click();
  await form.getByRole("alert").getByText("That password isn't right. Try again.").waitFor();
  assert.equal(await form.getByLabel("Current password").inputValue(), "", "the wrong password is cleared");
  await shot(page, "change password wrong current password", { also: [PHONE_390] });
  assert.equal(await stillSignedIn(firefox), true, "nothing changed yet");

  await form.getByLabel("Current password").fill(roamer.password);
  await form.getByRole("button", { name: "Change password" }).click();
  await dialogDone();
  await page.getByText("Your password was changed. 1 other session was signed out.").waitFor();
  await shot(page, "password changed", { also: [PHONE_390] });
  assert.equal(await stillSignedIn(firefox), false, "the other session ended");
  const old = await api("POST", "/v1/login", { body: { username: roamer.username, password: roamer.password } });
  assert.equal(old.status, 401, "the old password no longer signs in");
  roamer.password = fresh;
  await signOut();
  await signIn(roamer.password, roamer);
  await expectHeading("Sign-in & security");
});

step("the activity shows where each change came from", [PASSWORD_CHANGE], async () => {
  const activity = page.locator("section", { has: page.getByRole("heading", { name: "Recent security activity" }) });
  const more = activity.getByRole("button", { name: /^Show all \d+ events$/ });
  if (await more.isVisible()) await more.click();
  const changed = activity.locator('[data-testid="event"][data-event-type="password_changed"]');
  await changed.getByText("You changed your password.").waitFor();
  assert.match(await changed.locator(".event-source").textContent(), /127\.0\.0\.1$/);
  const revoked = activity.locator('[data-testid="event"][data-event-type="session_revoked"]');
  await revoked.getByText("You signed out of all other sessions.").waitFor();
  await revoked.getByText("You signed out of another session.").waitFor();
  const phone = activity.locator('[data-testid="event"]', { hasText: "Safari on iOS" }).first();
  await phone.getByText("You signed in").waitFor();
  assert.equal(await phone.locator(".event-source").textContent(), "Safari on iOS · 127.0.0.1");
  const text = await activity.textContent();
  assert.ok(!/[{}"]|_/.test(text.replace(/“[^”]*”/g, "")), `no raw event names or JSON: ${text}`);
  await activity.scrollIntoViewIfNeeded();
  await shot(page, "activity with where each change came from", { also: [PHONE_390] });
  await signOut();
});
