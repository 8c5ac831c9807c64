// What the trace and thread lists share: a filter form that keeps the URL short, and a highlighted row.

import { step } from "./keys.js";

/** Submit `form` as a URL without its empty fields (short and shareable). */
export function submitNonEmpty(form) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(event.target)) if (String(value).trim()) query.set(name, String(value).trim());
    location.search = query.toString();
  });
}

/** Move the highlighted row of `body` by `by` (j/k), scrolling it into view. */
export function highlight(body, by) {
  const all = [...body.children];
  const current = all.indexOf(body.querySelector("tr.selected"));
  all[current]?.classList.remove("selected");
  const next = all[step(all.length, current, by)];
  next?.classList.add("selected");
  next?.scrollIntoView({ block: "nearest" });
}
