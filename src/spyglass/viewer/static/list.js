// The trace list: the first page from /api/traces, then every change pushed by the server (SSE).

import { follow, getJSON, mutate } from "./api.js";
import { clear, el } from "./dom.js";
import * as fmt from "./format.js";
import { installKeys, LIST_ORDER_KEY } from "./keys.js";
import { highlight, submitNonEmpty } from "./rows.js";

const filters = new URLSearchParams(location.search);
const body = document.querySelector("#traces tbody");
const empty = document.getElementById("empty");
const more = document.getElementById("load-more");
const status = document.getElementById("list-status");
const rows = new Map(); // trace_id -> {trace, row}
let nextBefore = null;
let scanned = null;

const STATUS_LABELS = { ok: "ok", error: "error", pending: "running" };

function row(trace, fresh) {
  const href = `/trace/${encodeURIComponent(trace.trace_id)}`;
  const title = trace.message || trace.root_name || "(root span not written yet)";
  const tr = el(
    "tr",
    { className: `status-${trace.status}${fresh ? " fresh" : ""}`, dataset: { traceId: trace.trace_id } },
    el("td", { className: "time", title: fmt.fullTime(trace.start_ns) }, fmt.time(trace.start_ns)),
    el(
      "td",
      { className: "trace-name" },
      el("a", { href }, title),
      el("span", { className: "spans" }, ` ${trace.span_count} spans`),
      trace.thread_id ? el("a", { className: "thread-link", href: `/thread/${encodeURIComponent(trace.thread_id)}`, title: `In the thread ${trace.thread_id}` }, "thread") : null,
    ),
    el("td", { className: "service" }, trace.service_name || "–"),
    el("td", { className: "num" }, fmt.duration(trace.duration_ns)),
    el("td", {}, el("span", { className: `badge status ${trace.status}` }, STATUS_LABELS[trace.status] ?? trace.status)),
    el("td", { className: "models" }, trace.models.join(", ")),
    el("td", { className: "num", title: tokenTitle(trace) }, fmt.tokens(trace.total_tokens)),
    el("td", { className: "num" }, fmt.cost(trace.cost_usd)),
    el("td", { className: "prompt", title: trace.first_prompt || "" }, trace.first_prompt || ""),
  );
  tr.addEventListener("click", (event) => {
    if (event.target.closest("a") || window.getSelection().toString()) return;
    location.href = href;
  });
  return tr;
}

function tokenTitle(trace) {
  if (trace.total_tokens === null) return "";
  return `${fmt.tokens(trace.input_tokens)} in, ${fmt.tokens(trace.output_tokens)} out`;
}

function newerFirst(a, b) {
  const start = BigInt(a.start_ns);
  const other = BigInt(b.start_ns);
  if (start !== other) return other > start ? 1 : -1;
  return a.trace_id < b.trace_id ? 1 : -1;
}

function upsert(trace, fresh) {
  const known = rows.get(trace.trace_id);
  const oldest = body.lastElementChild && rows.get(body.lastElementChild.dataset.traceId)?.trace;
  if (!known && nextBefore !== null && oldest && newerFirst(trace, oldest) > 0) return; // on a later page
  const tr = row(trace, fresh);
  if (known) known.row.remove();
  rows.set(trace.trace_id, { trace, row: tr });
  let after = null;
  for (const other of body.children) {
    if (newerFirst(trace, rows.get(other.dataset.traceId).trace) < 0) {
      after = other;
      break;
    }
  }
  body.insertBefore(tr, after);
}

function remove(traceId) {
  rows.get(traceId)?.row.remove();
  rows.delete(traceId);
}

function showStatus() {
  empty.hidden = rows.size > 0;
  more.hidden = nextBefore === null;
  const shown = `${rows.size.toLocaleString("en-US")} trace${rows.size === 1 ? "" : "s"} shown`;
  status.textContent = scanned === null ? shown : `${shown}; the attribute filter read the latest ${scanned.toLocaleString("en-US")} traces`;
}

async function loadPage(before) {
  const query = new URLSearchParams(filters);
  if (before !== null) query.set("before", before);
  const page = await getJSON(`/api/traces?${query}`);
  for (const trace of page.traces) upsert(trace, false);
  nextBefore = page.next_before;
  scanned = page.scanned === null ? null : (scanned ?? 0) + page.scanned;
  showStatus();
  return page;
}

// What writers said they could not record (their queue full, a sink stuck): a store missing spans says so.
const lossesBox = document.getElementById("losses");
const LOSSES_SHOWN = 5;
let lossesAsked = 0;

async function showLosses() {
  lossesAsked = Date.now();
  const { losses } = await getJSON("/api/losses");
  const byWriter = new Map();
  for (const loss of losses) {
    const who = `${loss.service_name || "unknown service"} (${loss.host || "?"}, pid ${loss.pid ?? "?"})`;
    const entry = byWriter.get(who) ?? { who, parts: [], last: 0n };
    entry.parts.push(`${loss.count.toLocaleString("en-US")} ${loss.unit}${loss.count === 1 ? "" : "s"} (${loss.sink})`);
    if (BigInt(loss.last_ns) > entry.last) entry.last = BigInt(loss.last_ns);
    byWriter.set(who, entry);
  }
  clear(lossesBox);
  lossesBox.hidden = byWriter.size === 0;
  if (!byWriter.size) return;
  lossesBox.append(el("strong", {}, "Not everything was recorded."), " Writers of this store counted what they lost:");
  const list = el("ul");
  for (const entry of [...byWriter.values()].slice(0, LOSSES_SHOWN)) {
    list.append(el("li", { title: `last counted ${fmt.fullTime(entry.last.toString())}` }, `${entry.who}: ${entry.parts.join(", ")}`));
  }
  if (byWriter.size > LOSSES_SHOWN) list.append(el("li", {}, `and ${byWriter.size - LOSSES_SHOWN} more writers`));
  lossesBox.append(list);
}

let lossesTimer = null;

/** Ask again at most every 2 s, and never skip the last ask of a burst (a trailing call). */
function showLossesSoon() {
  if (lossesTimer !== null) return;
  const wait = Math.max(0, lossesAsked + 2000 - Date.now());
  lossesTimer = setTimeout(() => {
    lossesTimer = null;
    showLosses().catch(() => {});
  }, wait);
}

function applyChanges(changes) {
  showLossesSoon();
  if (changes.cleared) {
    clear(body);
    rows.clear();
  }
  for (const id of changes.removed) remove(id);
  for (const trace of changes.traces) upsert(trace, true);
  showStatus();
}

async function loadModels() {
  const { models } = await getJSON("/api/models");
  const list = document.getElementById("model-names");
  for (const model of models) list.append(el("option", { value: model.model }));
}

more.addEventListener("click", async () => {
  more.disabled = true;
  try {
    await loadPage(nextBefore);
  } finally {
    more.disabled = false;
  }
});

document.getElementById("clear-store").addEventListener("click", async () => {
  if (!confirm("Delete every trace in this store? This cannot be undone.")) return;
  try {
    await mutate("POST", "/api/clear");
  } catch (error) {
    status.textContent = `Could not clear the store: ${error.message}`;
  }
});

try {
  const first = await loadPage(null);
  follow(filters, first.cursor, applyChanges);
  loadModels();
  showLosses().catch(() => {});
  setInterval(showLossesSoon, 30_000); // a writer may lose spans without writing any
} catch (error) {
  status.textContent = `Could not load traces: ${error.message}`;
}

// Keep the URL short and shareable: leave empty filters out of it.
submitNonEmpty(document.getElementById("filters"));

// Keyboard: move a highlighted row with j/k, open it with Enter; the order is kept for the trace page's n/p.
installKeys([
  ["j / ↓", "highlight the next (older) trace", () => highlight(body, 1)],
  ["k / ↑", "highlight the previous (newer) trace", () => highlight(body, -1)],
  ["Enter / o", "open the highlighted trace", () => body.querySelector("tr.selected a")?.click()],
]);
window.addEventListener("pagehide", () => {
  sessionStorage.setItem(LIST_ORDER_KEY, JSON.stringify([...body.children].map((tr) => tr.dataset.traceId)));
});
