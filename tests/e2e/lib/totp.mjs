// RFC 6238 TOTP (SHA-1, 30 s, 6 digits) with node:crypto, for typing codes as an app would.
import { createHmac } from "node:crypto";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function base32Decode(text) {
  const clean = text.replace(/[\s=-]/g, "").toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = ALPHABET.indexOf(ch);
    if (idx < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 4226 HOTP value for one counter. */
export function hotp(key, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac("sha1", key).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 10 ** digits).padStart(digits, "0");
}

export const currentStep = (now = Date.now()) => Math.floor(now / 30000);

export function totp(secret, step = currentStep()) {
  return hotp(base32Decode(secret), step);
}

/**
 * An authenticator app that remembers the last time step it used: the server refuses a code
 * of the same or an earlier step, so this waits for a fresh step when it has to. It uses the
 * next step early (allowed: one step of skew either way) to keep the tests quick.
 */
export class AuthenticatorApp {
  constructor(secret) {
    this.secret = secret.replace(/\s+/g, "");
    this.lastStep = -1;
  }

  async code() {
    for (;;) {
      const now = currentStep();
      const step = Math.max(now, this.lastStep + 1);
      if (step <= now + 1) {
        // Stay clear of the far edge: a code for now+1 typed in the last second is still fine
        // (skew), but a code for `now` must not reach the server two steps later.
        this.lastStep = step;
        return totp(this.secret, step);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** A six-digit code that no step within the skew window accepts. */
  wrongCode() {
    const now = currentStep();
    const valid = new Set([now - 1, now, now + 1, now + 2].map((s) => totp(this.secret, s)));
    for (let i = 0; ; i += 1) {
      const c = String((123456 + i * 7919) % 1000000).padStart(6, "0");
      if (!valid.has(c)) return c;
    }
  }
}
