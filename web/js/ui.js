// Small DOM helpers shared by every view. No framework: elements are built with h().

/** Builds an element. attrs: on* handlers, class, dataset, boolean attributes; children: nodes/strings. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "html") {
      el.innerHTML = value; // only ever used with our own static SVG strings
    } else if (key in el && typeof value !== "string" && key !== "list") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Icons: our own simple strokes, 24×24, decorative (aria-hidden).
const paths = {
  key: '<circle cx="8" cy="15" r="4"/><path d="m10.8 12.2 8.7-8.7M16 7l3 3M14 9l2 2"/>',
  app: '<rect x="6" y="2.5" width="12" height="19" rx="2.5"/><path d="M10 18.5h4"/><path d="M9.5 9.5h5M9.5 12.5h3"/>',
  push: '<path d="M6 16V11a6 6 0 1 1 12 0v5l1.5 2h-15L6 16Z"/><path d="M10 20.5a2 2 0 0 0 4 0"/>',
  recovery: '<rect x="3" y="6" width="18" height="12" rx="2"/><path d="M7 10h.01M11 10h.01M15 10h.01M7 14h10"/>',
  pencil: '<path d="M4 20h4L19 9a2.8 2.8 0 0 0-4-4L4 16v4Z"/><path d="m13.5 6.5 4 4"/>',
  refresh: '<path d="M20 11a8 8 0 1 0-2.3 5.7"/><path d="M20 4v7h-7"/>',
  copy: '<rect x="8" y="8" width="12" height="12" rx="2"/><path d="M16 8V6a2 2 0 0 0-2-2H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h2"/>',
  download: '<path d="M12 4v11M7 10l5 5 5-5M5 20h14"/>',
  warning: '<path d="M12 3 2 20h20L12 3Z"/><path d="M12 10v4M12 17h.01"/>',
  info: '<circle cx="12" cy="12" r="9"/><path d="M12 11v5M12 8h.01"/>',
  check: '<path d="m5 12.5 4.5 4.5L19 7.5"/>',
  shield: '<path d="M12 3 5 6v5.5c0 4.5 3 8.2 7 9.5 4-1.3 7-5 7-9.5V6l-7-3Z"/><path d="m9 12 2 2 4-4"/>',
  shieldOff: '<path d="M12 3 5 6v5.5c0 4.5 3 8.2 7 9.5 4-1.3 7-5 7-9.5V6l-7-3Z"/><path d="M9.5 9.5l5 5M14.5 9.5l-5 5"/>',
  close: '<path d="M6 6l12 12M18 6 6 18"/>',
  trash: '<path d="M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3"/>',
  signIn: '<path d="M14 4h4a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-4"/><path d="M10 16l4-4-4-4M14 12H4"/>',
  x: '<circle cx="12" cy="12" r="9"/><path d="m9 9 6 6M15 9l-6 6"/>',
  clock: '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>',
  desktop: '<rect x="3" y="4" width="18" height="12" rx="2"/><path d="M8 20h8M12 16v4"/>',
  phone: '<rect x="7" y="2.5" width="10" height="19" rx="2.5"/><path d="M11 18.5h2"/>',
  lock: '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V8a4 4 0 0 1 8 0v3"/>',
};

export function icon(name, cls = "") {
  const span = document.createElement("span");
  span.innerHTML = `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false"${cls ? ` class="${cls}"` : ""}>${paths[name] || paths.info}</svg>`;
  return span.firstChild;
}

let idCounter = 0;
export function uid(prefix = "f") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled input with optional hint. Returns {wrap, input}. */
export function field({ label, name, type = "text", hint, optional, autocomplete, value, inputmode, cls, maxlength, required, pattern, autofocus, spellcheck }) {
  const id = uid(name || "field");
  const hintId = hint ? `${id}-hint` : undefined;
  const input = h("input", {
    id, name, type, autocomplete, inputmode, class: cls, maxlength, pattern,
    required: required ? true : undefined,
    "aria-describedby": hintId,
    autocapitalize: type === "password" || name === "username" || cls ? "none" : undefined,
    spellcheck: spellcheck === false || type === "password" || name === "username" || cls ? "false" : undefined,
    autofocus: autofocus ? true : undefined,
  });
  if (value !== undefined) input.value = value;
  const wrap = h("div", { class: "field" },
    h("label", { for: id }, label, optional ? h("span", { class: "optional" }, " (optional)") : null),
    input,
    hint ? h("span", { class: "hint", id: hintId }, hint) : null,
  );
  return { wrap, input };
}

/** The error box at the top of a form. set(msg) shows it (and announces it), set("") hides it. */
export function errorBox() {
  const el = h("div", { class: "form-error", role: "alert", hidden: true });
  return {
    el,
    set(message) {
      el.replaceChildren();
      if (message) {
        el.append(icon("warning"), h("span", {}, message));
        el.hidden = false;
      } else {
        el.hidden = true;
      }
    },
  };
}

/** Marks a button busy while fn runs. Returns fn's value; busy state is cleared even if it throws. */
export async function busy(button, fn) {
  if (button.getAttribute("aria-busy") === "true") return undefined;
  button.setAttribute("aria-busy", "true");
  button.disabled = true;
  try {
    return await fn();
  } finally {
    button.removeAttribute("aria-busy");
    button.disabled = false;
  }
}

let toastTimer = null;
export function toast(message, ms = 4000) {
  // One at a time: a newer message replaces the older one.
  // A modal dialog sits in the top layer, above the page's region: show it inside the dialog then.
  const open = [...document.querySelectorAll("dialog[open]")].pop();
  let region = document.getElementById("toasts");
  if (open) {
    region = open.querySelector(".toast-region");
    if (!region) {
      region = h("div", { class: "toast-region", role: "status", "aria-live": "polite" });
      open.append(region);
    }
  }
  for (const r of document.querySelectorAll(".toast-region")) if (r !== region) r.replaceChildren();
  region.replaceChildren(h("div", { class: "toast" }, message));
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => region.replaceChildren(), ms);
}

export async function copyText(text, what = "Copied") {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} to the clipboard.`);
  } catch {
    // Clipboard API unavailable (e.g. insecure origin): fall back to a hidden textarea.
    const ta = h("textarea", { class: "visually-hidden", readonly: true });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    ta.remove();
    toast(ok ? `${what} to the clipboard.` : "Copying is blocked in this browser. Select the text and copy it yourself.");
  }
}

export function downloadText(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  const a = h("a", { href: url, download: filename, class: "visually-hidden" }, "download");
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** A modal dialog built on <dialog>. Returns {dialog, body, close}. onClose runs once. */
export function openDialog({ title, content, onClose, labelledBy }) {
  const titleId = uid("dlg-title");
  const body = h("div", { class: "dialog-body" });
  const closeBtn = h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": "Close" }, icon("close"));
  const dialog = h("dialog", { "aria-labelledby": labelledBy || titleId },
    h("div", { class: "dialog-inner" },
      h("div", { class: "dialog-head" }, h("h2", { id: titleId }, title), closeBtn),
      body,
    ),
  );
  const opener = document.activeElement;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    if (dialog.open) dialog.close();
    dialog.remove();
    if (onClose) onClose();
    if (opener && document.contains(opener)) opener.focus();
  };
  closeBtn.addEventListener("click", close);
  dialog.addEventListener("close", close);
  dialog.addEventListener("cancel", (e) => { e.preventDefault(); close(); });
  if (content) body.append(content);
  document.body.append(dialog);
  dialog.showModal();
  const first = body.querySelector("input, button:not([disabled]), [tabindex='0']");
  if (first) first.focus();
  return { dialog, body, close, titleEl: dialog.querySelector(`#${titleId}`) };
}

// Time formatting --------------------------------------------------------------------------

const dateFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export function formatDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : dateFmt.format(d);
}
export function formatDateTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : dateTimeFmt.format(d);
}
export function relativeTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const s = Math.round((d.getTime() - Date.now()) / 1000);
  const abs = Math.abs(s);
  if (abs < 45) return "just now";
  if (abs < 3600) return rtf.format(Math.round(s / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(s / 3600), "hour");
  if (abs < 86400 * 7) return rtf.format(Math.round(s / 86400), "day");
  return formatDate(iso);
}
export function timeEl(iso, text) {
  return h("time", { datetime: iso, title: formatDateTime(iso) }, text || relativeTime(iso));
}

/** "1:05" from seconds. */
export function mmss(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Announces screen changes: moves focus to the new page heading. */
export function focusHeading(root) {
  const h1 = root.querySelector("h1");
  if (h1) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: true });
  }
}
