// Keyboard shortcuts for every page, and the `?` overlay that lists them. A page passes its own keys;
// the overlay shows exactly those, so what it documents is what works.

import { el } from "./dom.js";

const COMMON = [
  ["?", "show or hide this help", null],
  ["/", "search traces", () => {
    const search = document.querySelector('#filters input[name="q"]');
    if (search) search.focus();
    else location.href = "/#search";
  }],
];

/** Where the list page leaves its trace order, for the trace page's next / previous trace. */
export const LIST_ORDER_KEY = "spyglass.list-order";

let overlay = null;

function toggleHelp(keys) {
  if (overlay) {
    overlay.remove();
    overlay = null;
    return;
  }
  const close = el("button", { type: "button", className: "close", "aria-label": "Close", onclick: () => toggleHelp(keys) }, "×");
  overlay = el(
    "div",
    { id: "keys-help", className: "keys-help", role: "dialog", "aria-label": "Keyboard shortcuts" },
    el("div", { className: "keys-box" }, el("h2", {}, "Keyboard shortcuts", close), el("dl", {}, ...keys.flatMap(([key, what]) => [el("dt", {}, el("kbd", {}, key)), el("dd", {}, what)]))),
  );
  overlay.addEventListener("click", (event) => {
    if (event.target === overlay) toggleHelp(keys);
  });
  document.body.append(overlay);
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

/** Install the page's shortcuts: [[label, description, action(event)]]; a label "j / ↓" binds both keys. */
export function installKeys(pageKeys) {
  const keys = [...COMMON, ...pageKeys];
  const actions = new Map();
  for (const [label, , action] of keys) {
    for (const key of label.split(" / ")) actions.set(KEY_NAMES[key] ?? key, action);
  }
  actions.set("?", () => toggleHelp(keys));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      if (overlay) toggleHelp(keys);
      else if (typing(event.target)) event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const action = actions.get(event.key);
    if (!action) return;
    event.preventDefault();
    action(event);
  });
  if (location.hash === "#search") COMMON[1][2]();
}

const KEY_NAMES = { "↓": "ArrowDown", "↑": "ArrowUp", "←": "ArrowLeft", "→": "ArrowRight", Enter: "Enter" };

/** Move the selection among `items` by `step`, wrapping at neither end; returns the new index. */
export function step(count, current, by) {
  if (!count) return -1;
  if (current < 0) return by > 0 ? 0 : count - 1;
  return Math.max(0, Math.min(count - 1, current + by));
}
