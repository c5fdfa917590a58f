// Showing a fresh set of recovery codes: list, copy, download as .txt.

import { h, icon, copyText, downloadText, formatDateTime } from "./ui.js";

export function codesText(codes, username, generatedAt) {
  const when = generatedAt ? formatDateTime(generatedAt) : formatDateTime(new Date().toISOString());
  return [
    "Latchkey recovery codes",
    username ? `Account: ${username}` : null,
    `Generated: ${when}`,
    "",
    "Each code signs you in once when you can't use your devices.",
    "Keep them somewhere safe. Generating new codes makes these stop working.",
    "",
    ...codes.map((c, i) => `${String(i + 1).padStart(2, " ")}. ${c}`),
    "",
  ].filter((l) => l !== null).join("\n");
}

/** The block with the ten codes and the Copy / Download buttons. */
export function codesBlock(codes, { username, generatedAt } = {}) {
  const list = h("ol", { class: "codes", "aria-label": "Recovery codes" },
    codes.map((c) => h("li", { dataset: { testid: "recovery-code" } }, c)));
  const copy = h("button", { type: "button", class: "btn btn-secondary",
    onclick: () => copyText(codes.join("\n"), "Recovery codes copied") }, icon("copy"), "Copy codes");
  const download = h("button", { type: "button", class: "btn btn-secondary",
    onclick: () => downloadText("latchkey-recovery-codes.txt", codesText(codes, username, generatedAt)) },
  icon("download"), "Download .txt");
  return h("div", { class: "codes-block" },
    h("div", { class: "notice warn" }, icon("warning"),
      h("div", {},
        h("p", {}, h("strong", {}, "Save these codes now. "), "They are shown only once."),
        h("p", {}, "Each code signs you in one time if you lose your devices. Store them in a password manager or print them."))),
    list,
    h("div", { class: "actions" }, copy, download),
  );
}
