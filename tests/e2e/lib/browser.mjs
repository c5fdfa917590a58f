// Chromium (Debian's /usr/bin/chromium) driven by playwright-core, plus CDP virtual
// authenticators and a screenshot helper that saves each state at desktop and phone widths.
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = process.env.E2E_ARTIFACTS || join(here, "..", "artifacts");
// WebAuthn needs a hostname as RP id: always localhost, never 127.0.0.1.
export const BASE_URL = (process.env.E2E_BASE_URL || "http://localhost:8091").replace(/\/+$/, "");

export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 360, height: 760 };
/** A common larger phone (iPhone 12–15), for shots that ask for it besides PHONE. */
export const PHONE_390 = { width: 390, height: 844 };

export async function launch() {
  return chromium.launch({
    executablePath: process.env.E2E_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

/** A fresh context and page; console errors and failed requests are collected in page.problems. */
export async function openPage(browser) {
  const context = await browser.newContext({ viewport: DESKTOP, locale: "en-US", timezoneId: "UTC" });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: BASE_URL });
  const page = await context.newPage();
  page.setDefaultTimeout(Number(process.env.E2E_TIMEOUT_MS || 15000));
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // The browser itself logs every 4xx answer; those are expected (wrong codes, passwords).
    if (m.type() === "error" && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      page.problems.push(`console: ${m.text()}`);
    }
  });
  return { context, page };
}

/** Two-sided virtual authenticator control through the Chrome DevTools Protocol. */
export class Authenticators {
  static async attach(page) {
    const a = new Authenticators();
    a.cdp = await page.context().newCDPSession(page);
    await a.cdp.send("WebAuthn.enable", { enableUI: false });
    a.ids = new Map();
    return a;
  }

  /**
   * `resident`: the authenticator keeps discoverable credentials (passkeys). Off by default:
   * the sign-in page's background passkey request (conditional mediation) is answered at
   * once by any virtual authenticator holding one for the account and letting presence
   * through, which would sign in before a journey typed its password.
   */
  async add(name, transport, { resident = false } = {}) {
    const { authenticatorId } = await this.cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport,
        hasResidentKey: resident,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    this.ids.set(name, authenticatorId);
    return authenticatorId;
  }

  /** Only `name` answers the next ceremony (the others never see a touch); `null`: none. */
  async only(name) {
    for (const [n, id] of this.ids) {
      await this.cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId: id, enabled: n === name });
    }
  }

  async credentials(name) {
    const { credentials } = await this.cdp.send("WebAuthn.getCredentials", { authenticatorId: this.ids.get(name) });
    return credentials;
  }
}

/**
 * Every visible control has an accessible name and can take keyboard focus: inputs by a
 * <label> or aria-label(ledby), buttons and links by their text or aria-label.
 */
export async function unlabelledControls(page) {
  return page.evaluate(() => {
    const bad = [];
    const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
    for (const el of document.querySelectorAll("input, select, textarea, button, a[href]")) {
      if (!visible(el) || el.closest(".visually-hidden")) continue;
      const named = (el.labels && el.labels.length) || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")
        || (["BUTTON", "A"].includes(el.tagName) && el.textContent.trim());
      if (!named) bad.push(el.outerHTML.slice(0, 80));
      if (el.tabIndex < 0 && !el.disabled) bad.push(`not focusable: ${el.outerHTML.slice(0, 80)}`);
    }
    return bad;
  });
}

let shotCounter = 0;
const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

/**
 * Saves the current state as NN-name.desktop.png and NN-name.phone.png (full page), and
 * NN-name.phone-<width>.png for each further size in `also`. Also checks that nothing
 * spills sideways at the narrowest phone width.
 */
export async function shot(page, name, { also = [] } = {}) {
  mkdirSync(ARTIFACTS, { recursive: true });
  shotCounter += 1;
  const base = `${String(shotCounter).padStart(2, "0")}-${slug(name)}`;
  const original = page.viewportSize() || DESKTOP;
  await capture(page, join(ARTIFACTS, `${base}.desktop.png`), original);
  await page.setViewportSize(PHONE);
  await settle(page);
  const overflow = await page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const bad = [];
    for (const el of document.querySelectorAll("body *")) {
      const r = el.getBoundingClientRect();
      if (r.width && (r.right > w + 1 || r.left < -1) && !el.closest(".visually-hidden, .skip-link")) {
        bad.push(`${el.tagName.toLowerCase()}.${el.className || ""} ${Math.round(r.left)}..${Math.round(r.right)}`);
      }
    }
    return bad.slice(0, 5);
  });
  await capture(page, join(ARTIFACTS, `${base}.phone.png`), PHONE);
  for (const size of also) {
    await page.setViewportSize(size);
    await capture(page, join(ARTIFACTS, `${base}.phone-${size.width}.png`), size);
  }
  await page.setViewportSize(original);
  await settle(page);
  const unnamed = await unlabelledControls(page);
  if (unnamed.length) throw new Error(`controls without a name in "${name}": ${unnamed.join("; ")}`);
  if (overflow.length) throw new Error(`content spills past 360 px in "${name}": ${overflow.join("; ")}`);
  return base;
}

/**
 * Full-page shot; with a modal dialog open, the viewport is made tall enough for the whole
 * dialog instead (a fixed dialog in a full-page shot only covers the first screen).
 */
async function capture(page, path, size) {
  await settle(page);
  const dialogHeight = await page.evaluate(() => {
    const d = document.querySelector("dialog[open]");
    return d ? d.scrollHeight : 0;
  });
  if (!dialogHeight) {
    await page.screenshot({ path, fullPage: true });
    return;
  }
  const height = Math.max(size.height, dialogHeight + 48);
  if (height !== size.height) {
    await page.setViewportSize({ width: size.width, height });
    await settle(page);
  }
  await page.screenshot({ path });
  if (height !== size.height) await page.setViewportSize(size);
}

async function settle(page) {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}
