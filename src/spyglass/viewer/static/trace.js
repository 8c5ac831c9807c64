// The trace page: the waterfall on the left, the selected span's panel on the right, kept up to date
// while the trace is still being written. The selection lives in the URL hash (#span=ID&tab=NAME).

import { follow, getJSON, mutate } from "./api.js";
import { toolIndex } from "./conversation.js";
import { installKeys, LIST_ORDER_KEY, step } from "./keys.js";
import { renderPanel } from "./panel.js";
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

/** The span to open first: the first model call (its conversation is what one comes for), else the root. */
function defaultSpan(ordered) {
  const failed = ordered.find(({ span }) => span.status_code === "ERROR" && span.kind === "llm");
  const call = ordered.find(({ span }) => span.kind === "llm" || span.kind === "llm_stream");
  return (failed ?? call ?? ordered[0])?.span.span_id ?? null;
}

let tools = null; // the trace's tool-call index, rebuilt when the spans change

/** Draw the waterfall (only when the spans changed: `redraw`) and the selected span's panel. */
function render(anchor, { redraw = false } = {}) {
  let { span: selected, tab } = state();
  if (redraw) {
    const ordered = renderWaterfall(waterfall, spans, { selected, onSelect: select });
    tools = toolIndex(spans);
    if (earlier) tools.earlier = earlier;
    if (!spans.some((span) => span.span_id === selected)) selected = defaultSpan(ordered);
  }
  markSelected(waterfall, selected);
  const span = spans.find((candidate) => candidate.span_id === selected);
  if (!span) return;
  renderPanel(panel, span, {
    tab,
    tools,
    goTo: (spanId, id, inTrace = traceId) => {
      if (inTrace !== traceId) {
        location.href = `/trace/${encodeURIComponent(inTrace)}#span=${encodeURIComponent(spanId)}&tab=conversation`;
        return;
      }
      setState(spanId, "conversation");
      render(id);
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

async function load() {
  const data = await getJSON(`/api/traces/${encodeURIComponent(traceId)}`);
  spans = data.spans;
  spanCount.textContent = String(spans.length);
  render(null, { redraw: true });
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
