// The trace page: the waterfall on the left, the selected span's panel on the right, kept up to date
// while the trace is still being written. The selection lives in the URL hash (#span=ID&tab=NAME).

import { follow, getJSON, mutate } from "./api.js";
import { toolIndex } from "./conversation.js";
import { renderPanel } from "./panel.js";
import { renderWaterfall } from "./waterfall.js";

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

function render(anchor) {
  let { span: selected, tab } = state();
  const draw = () => renderWaterfall(waterfall, spans, { selected, onSelect: select });
  let ordered = draw();
  if (!spans.some((span) => span.span_id === selected)) {
    selected = defaultSpan(ordered);
    ordered = draw();
  }
  const span = spans.find((candidate) => candidate.span_id === selected);
  if (!span) return;
  renderPanel(panel, span, {
    tab,
    tools: toolIndex(spans),
    goTo: (spanId, id) => {
      setState(spanId, "conversation");
      render(id);
      if (!id) document.querySelector(`.span-row[aria-selected="true"]`)?.scrollIntoView({ block: "nearest" });
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
  render();
  return data.cursor;
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

const cursor = await load();
follow({}, cursor, async (changes) => {
  if (changes.cleared || changes.removed.includes(traceId)) {
    panel.replaceChildren(document.createTextNode("This trace was deleted from the store."));
    return;
  }
  if (changes.traces.some((trace) => trace.trace_id === traceId)) await load();
});
