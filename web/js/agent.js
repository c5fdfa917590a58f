// "Chrome on Windows" from a User-Agent string, read by bowser (vendor/bowser, MIT).

import Bowser from "../vendor/bowser/bowser.mjs";

/** {label, mobile}: a short name for the browser and system behind `userAgent`. */
export function describeAgent(userAgent) {
  if (!userAgent) return { label: "Unknown browser", mobile: false };
  let parsed = null;
  try {
    parsed = Bowser.parse(userAgent);
  } catch {
    parsed = null;
  }
  const browser = (parsed && parsed.browser && parsed.browser.name) || "";
  const os = (parsed && parsed.os && parsed.os.name) || "";
  const platform = parsed && parsed.platform && parsed.platform.type;
  const mobile = platform === "mobile" || platform === "tablet";
  if (browser && os) return { label: `${browser} on ${os}`, mobile };
  if (browser || os) return { label: browser || os, mobile };
  // Not a browser (a script, an app): its own first word, as it names itself.
  const first = userAgent.trim().split(/\s+/)[0].slice(0, 40);
  return { label: first || "Unknown browser", mobile: false };
}

/** "Chrome on Windows · 203.0.113.7": where a request came from, or "" when unknown. */
export function describeSource(ip, userAgent) {
  const parts = [];
  if (userAgent) parts.push(describeAgent(userAgent).label);
  if (ip) parts.push(ip);
  return parts.join(" · ");
}
