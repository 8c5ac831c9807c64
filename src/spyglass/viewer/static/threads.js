// The thread list: conversations over several traces, from /api/threads; reloaded when a write touches a
// trace in a thread (the store pushes trace changes, and a thread's totals are the sum of its traces).

import { follow, getJSON } from "./api.js";
import { clear, el } from "./dom.js";
import * as fmt from "./format.js";
import { installKeys } from "./keys.js";
import { highlight, submitNonEmpty } from "./rows.js";

const filters = new URLSearchParams(location.search);
const body = document.querySelector("#threads tbody");
const empty = document.getElementById("empty");
const more = document.getElementById("load-more");
const status = document.getElementById("list-status");
const STATUS_LABELS = { ok: "ok", error: "error", pending: "running" };
const SOURCE_LABELS = { session: "session", conversation: "conversation", responses: "response chain" };
let shown = 0; // threads loaded, kept when reloading
let nextBefore = null;

function row(thread) {
  const href = `/thread/${encodeURIComponent(thread.thread_id)}`;
  const tr = el(
    "tr",
    { className: `status-${thread.status}`, dataset: { threadId: thread.thread_id } },
    el("td", { className: "time", title: `${fmt.fullTime(thread.start_ns)} – ${fmt.fullTime(thread.end_ns)}` }, fmt.time(thread.last_start_ns)),
    el(
      "td",
      { className: "trace-name" },
      el("a", { href }, thread.message || thread.thread_id),
      el("span", { className: "spans" }, ` ${SOURCE_LABELS[thread.source] ?? thread.source ?? ""} `),
      el("code", { className: "thread-id" }, thread.thread_id),
    ),
    el("td", { className: "num" }, String(thread.trace_count)),
    el("td", { className: "num", title: `busy ${fmt.duration(thread.busy_ns)}` }, fmt.duration(thread.duration_ns)),
    el("td", {}, el("span", { className: `badge status ${thread.status}` }, STATUS_LABELS[thread.status] ?? thread.status), thread.error_count ? el("span", { className: "errors" }, ` ${thread.error_count} failed`) : null),
    el("td", { className: "models" }, thread.models.join(", ")),
    el("td", { className: "num" }, fmt.tokens(thread.total_tokens)),
    el("td", { className: "num" }, fmt.cost(thread.cost_usd)),
    el("td", { className: "prompt", title: thread.first_prompt || "" }, thread.first_prompt || ""),
  );
  tr.addEventListener("click", (event) => {
    if (event.target.closest("a") || window.getSelection().toString()) return;
    location.href = href;
  });
  return tr;
}

function showStatus() {
  const count = body.children.length;
  empty.hidden = count > 0;
  more.hidden = nextBefore === null;
  status.textContent = `${count.toLocaleString("en-US")} thread${count === 1 ? "" : "s"} shown`;
}

async function load(before, limit = 50) {
  const query = new URLSearchParams(filters);
  query.set("limit", String(limit));
  if (before !== null) query.set("before", before);
  const page = await getJSON(`/api/threads?${query}`);
  if (before === null) clear(body);
  const selected = body.querySelector("tr.selected")?.dataset.threadId;
  for (const thread of page.threads) body.append(row(thread));
  if (selected) body.querySelector(`tr[data-thread-id="${CSS.escape(selected)}"]`)?.classList.add("selected");
  nextBefore = page.next_before;
  shown = body.children.length;
  showStatus();
  return page;
}

let reloading = null;
function reload() {
  // Several changes in a row make one reload; the pages loaded so far are reloaded as one.
  reloading ??= setTimeout(async () => {
    reloading = null;
    await load(null, Math.max(shown, 50)).catch((error) => (status.textContent = `Could not reload: ${error.message}`));
  }, 300);
}

more.addEventListener("click", async () => {
  more.disabled = true;
  try {
    await load(nextBefore);
  } finally {
    more.disabled = false;
  }
});

submitNonEmpty(document.getElementById("filters"));

installKeys([
  ["j / ↓", "highlight the next (older) thread", () => highlight(body, 1)],
  ["k / ↑", "highlight the previous (newer) thread", () => highlight(body, -1)],
  ["Enter / o", "open the highlighted thread", () => body.querySelector("tr.selected a")?.click()],
]);

try {
  const first = await load(null);
  follow({}, first.cursor, (changes) => {
    if (changes.cleared || changes.removed.length || changes.traces.some((trace) => trace.thread_id)) reload();
  });
} catch (error) {
  status.textContent = `Could not load threads: ${error.message}`;
}
