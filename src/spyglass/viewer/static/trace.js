// The trace page: the waterfall on the left, the selected span's panel on the right, kept up to date
// while the trace is still being written. The selection lives in the URL hash (#span=ID&tab=NAME).

import { follow, getJSON, mutate } from "./api.js";
import { toolIndex } from "./conversation.js";
import { el } from "./dom.js";
import { installKeys, LIST_ORDER_KEY, step } from "./keys.js";
import { renderPanel } from "./panel.js";
import { previousCall } from "./since.js";
import { markSelected, renderWaterfall, revealSpan, selectedSpan, spanOrder } from "./waterfall.js";

const traceId = document.getElementById("trace").dataset.traceId;
const waterfall = document.getElementById("waterfall");
const panel = document.getElementById("span-panel");
const spanCount = document.getElementById("trace-span-count");
let spans = [];

function state() {
  const hash = new URLSearchParams(location.hash.slice(1));
  return { span: hash.get("span"), tab: hash.get("tab") };
}

function setState(span, tab) {
  const hash = new URLSearchParams();
  if (span) hash.set("span", span);
  if (tab) hash.set("tab", tab);
  history.replaceState(null, "", `#${hash}`);
}

let tools = null; // the trace's tool-call index, rebuilt when the spans change

// The trace's spans come as the waterfall needs them (ids, times, names, the conversation's messages), with
// the whole record of the span the page opens at (the server's `default_span`: the first failed model call,
// else the first model call, else the first span). Any other span's record (attributes, events, resource)
// is fetched when it is shown, and kept until the trace changes.
let records = new Map(); // span id -> Promise of its record
let defaultSpan = null;
function record(spanId) {
  let found = records.get(spanId);
  if (!found) {
    const url = `/api/traces/${encodeURIComponent(traceId)}/spans/${encodeURIComponent(spanId)}`;
    found = getJSON(url).then((body) => body.span);
    found.catch(() => records.get(spanId) === found && records.delete(spanId)); // asked again next time
    records.set(spanId, found);
  }
  return found;
}

/** The span's record, and the whole record of the call it continues (the panel shows what changed since). */
async function recordsFor(spanId) {
  const span = await record(spanId);
  const since = previousCall(span, tools.earlier ? [...tools.earlier, ...spans] : spans);
  const shown = new Map([[span.span_id, span]]);
  if (since && since.previous.trace_id === traceId) shown.set(since.previous.span_id, await record(since.previous.span_id));
  return { span, shown };
}

let drawing = 0; // the latest render: an older one whose record arrives late draws nothing

/** Draw the waterfall (only when the spans changed: `redraw`) and the selected span's panel. */
async function render(anchor, { redraw = false } = {}) {
  let { span: selected, tab } = state();
  if (redraw) {
    const ordered = renderWaterfall(waterfall, spans, { selected, onSelect: select });
    tools = toolIndex(spans);
    if (earlier) tools.earlier = earlier;
    if (!spans.some((span) => span.span_id === selected)) selected = defaultSpan ?? ordered[0]?.span.span_id ?? null;
  }
  markSelected(waterfall, selected);
  if (!spans.some((candidate) => candidate.span_id === selected)) return;
  const mine = (drawing += 1);
  let found;
  try {
    found = await recordsFor(selected);
  } catch (error) {
    if (mine === drawing) panel.replaceChildren(el("p", { className: "error-text" }, `Could not load this span: ${error.message}`));
    return;
  }
  if (mine !== drawing) return;
  const { span, shown } = found;
  tools.records = shown;
  renderPanel(panel, span, {
    tab,
    tools,
    goTo: (spanId, id, inTrace = traceId) => {
      if (inTrace !== traceId) {
        location.href = `/trace/${encodeURIComponent(inTrace)}#span=${encodeURIComponent(spanId)}&tab=conversation`;
        return;
      }
      setState(spanId, "conversation");
      render(id); // marks the span selected at once, draws its panel when its record is in
      if (!id) revealSpan(waterfall, spanId);
    },
    onTab: (name) => setState(span.span_id, name),
  });
  if (anchor) {
    const target = document.getElementById(anchor);
    target?.scrollIntoView({ block: "center" });
    target?.classList.add("flash");
  }
}

function select(spanId) {
  setState(spanId, state().tab);
  render();
}

/** The answer's rows (each span's values of `fields`) as spans. An object literal: built key by key, 5,000
 * spans took 7 ms and came out slow to read (dictionary-mode objects); this takes well under 1 ms. */
function asSpans(fields, rows) {
  const at = Object.fromEntries(fields.map((field, k) => [field, k]));
  return rows.map((row) => ({
    trace_id: traceId,
    span_id: row[at.span_id],
    parent_span_id: row[at.parent_span_id],
    name: row[at.name],
    span_kind: row[at.span_kind],
    kind: row[at.kind],
    message: row[at.message],
    start_ns: row[at.start_ns],
    end_ns: row[at.end_ns],
    duration_ns: row[at.duration_ns],
    status_code: row[at.status_code],
    is_pending: row[at.is_pending],
    input_tokens: row[at.input_tokens],
    output_tokens: row[at.output_tokens],
    cost_usd: row[at.cost_usd],
    links: row[at.links],
    attributes: row[at.attributes],
  }));
}

async function load() {
  records = new Map();
  const asked = state().span;
  if (asked) record(asked); // a link to a span: its record is fetched while the trace's spans load
  const data = await getJSON(`/api/traces/${encodeURIComponent(traceId)}`);
  spans = asSpans(data.fields, data.spans);
  defaultSpan = data.default_span?.span_id ?? null;
  if (data.default_span && !records.has(defaultSpan)) records.set(defaultSpan, Promise.resolve(data.default_span));
  spanCount.textContent = String(spans.length);
  const opening = !waterfall.dataset.rows;
  await render(null, { redraw: true });
  // A link to a span far down shows its row (after the panel is drawn: the page is laid out once).
  if (opening) revealSpan(waterfall, selectedSpan(waterfall));
  loadThreadCalls();
  return data.cursor;
}

/** In a thread, the previous call may be in an earlier trace: fetch the calls of the traces just before. */
let earlier = null;
async function loadThreadCalls() {
  const threadId = document.getElementById("trace-thread")?.dataset.threadId;
  if (!threadId) return;
  if (earlier === null) {
    const start = document.getElementById("trace").dataset.startNs;
    const thread = await getJSON(`/api/threads/${encodeURIComponent(threadId)}?before=${encodeURIComponent(start)}`).catch(() => null);
    earlier = thread ? thread.spans : [];
  }
  if (!earlier.length || !tools) return;
  tools.earlier = earlier;
  render();
}

document.getElementById("delete-trace").addEventListener("click", async () => {
  if (!confirm("Delete this trace from the store?")) return;
  try {
    await mutate("DELETE", `/api/traces/${encodeURIComponent(traceId)}`);
  } catch (error) {
    document.getElementById("trace-title").textContent = `Could not delete this trace: ${error.message}`;
    return;
  }
  location.href = "/";
});

function moveSpan(by) {
  const order = spanOrder(waterfall); // every span, drawn or not (a big waterfall draws the rows in view)
  const next = order[step(order.length, order.indexOf(selectedSpan(waterfall)), by)];
  if (!next) return;
  select(next);
  revealSpan(waterfall, next);
}

function moveTab(to) {
  const tabs = [...panel.querySelectorAll(".tabs [role=tab]")];
  const current = tabs.findIndex((tab) => tab.getAttribute("aria-selected") === "true");
  tabs[to === "next" ? (current + 1) % tabs.length : to]?.click();
}

/** The next (older) or previous (newer) trace: in the order the list page last showed, else by start time. */
async function moveTrace(by) {
  const order = JSON.parse(sessionStorage.getItem(LIST_ORDER_KEY) ?? "[]");
  const at = order.indexOf(traceId);
  let target = at >= 0 ? order[at + by] : undefined;
  if (target === undefined && by > 0) {
    const start = document.getElementById("trace").dataset.startNs;
    const older = await getJSON(`/api/traces?limit=1&before=${encodeURIComponent(start)}`);
    target = older.traces[0]?.trace_id;
  }
  if (target) location.href = `/trace/${encodeURIComponent(target)}`;
  else document.getElementById("trace-title").dataset.edge = by > 0 ? "oldest" : "newest";
}

installKeys([
  ["j / ↓", "next span", () => moveSpan(1)],
  ["k / ↑", "previous span", () => moveSpan(-1)],
  ["n", "next (older) trace", () => moveTrace(1)],
  ["p", "previous (newer) trace", () => moveTrace(-1)],
  ["t", "next tab", () => moveTab("next")],
  ["1 / 2 / 3 / 4 / 5", "open the span panel's tab by its place", (event) => moveTab(Number(event.key) - 1)],
  ["u", "back to the trace list", () => (location.href = "/")],
]);

const cursor = await load();
follow({}, cursor, async (changes) => {
  if (changes.cleared || changes.removed.includes(traceId)) {
    panel.replaceChildren(document.createTextNode("This trace was deleted from the store."));
    return;
  }
  if (changes.traces.some((trace) => trace.trace_id === traceId)) await load();
});
