// A thread's page: the model calls of all its traces as one timeline of the conversation, oldest first.
// Each call shows what is new since the previous call of the thread (since.js), the rest one click away.
// Kept up to date while the conversation goes on.

import { follow, getJSON } from "./api.js";
import { renderConversation, toolIndex } from "./conversation.js";
import { el } from "./dom.js";
import * as fmt from "./format.js";
import { installKeys, step } from "./keys.js";

const threadId = document.getElementById("thread").dataset.threadId;
const timeline = document.getElementById("thread");
const totals = document.getElementById("thread-totals");
const STATUS_LABELS = { ok: "ok", error: "error", pending: "running" };
let traceIds = new Set();

function facts(thread, calls) {
  const rows = [
    ["Traces", String(thread.trace_count)],
    ["Model calls", String(calls)],
    ["Duration", fmt.duration(thread.duration_ns)],
    ["Busy", fmt.duration(thread.busy_ns)],
    ["Tokens", thread.total_tokens === null ? "–" : `${fmt.tokens(thread.total_tokens)} (${fmt.tokens(thread.input_tokens)} in, ${fmt.tokens(thread.output_tokens)} out)`],
    ["Cost", fmt.cost(thread.cost_usd)],
    ["Errors", String(thread.error_count)],
  ];
  totals.replaceChildren(...rows.flatMap(([label, value]) => [el("dt", {}, label), el("dd", { dataset: { fact: label.toLowerCase().replaceAll(" ", "-") } }, value)]));
  totals.classList.toggle("has-errors", thread.error_count > 0);
}

function traceHeader(trace, index) {
  const href = `/trace/${encodeURIComponent(trace.trace_id)}`;
  return el(
    "header",
    { className: "thread-trace-head" },
    el("span", { className: "turn" }, `#${index + 1}`),
    el("span", { className: "time", title: fmt.fullTime(trace.start_ns) }, fmt.time(trace.start_ns)),
    el("a", { href }, trace.message || trace.root_name || trace.trace_id),
    el("span", { className: `badge status ${trace.status}` }, STATUS_LABELS[trace.status] ?? trace.status),
    el("span", { className: "num" }, fmt.duration(trace.duration_ns)),
    el("span", { className: "num" }, `${fmt.tokens(trace.total_tokens)} tokens`),
    el("span", { className: "num" }, fmt.cost(trace.cost_usd)),
  );
}

function callCard(span, tools) {
  const failed = span.status_code === "ERROR";
  const head = el(
    "h3",
    {},
    span.message || span.name,
    el("span", { className: "hint" }, ` · ${span.is_pending ? "running" : fmt.duration(span.duration_ns)} · ${fmt.tokens((span.input_tokens ?? 0) + (span.output_tokens ?? 0))} tokens · ${fmt.cost(span.cost_usd)}`),
    failed ? el("span", { className: "badge status error" }, "error") : null,
  );
  const card = el("article", { className: `thread-call${failed ? " error" : ""}`, id: `call-${span.span_id}`, tabindex: "-1", dataset: { spanId: span.span_id } }, head);
  if (failed && span.status_description) card.append(el("p", { className: "error-text" }, span.status_description));
  const host = el("div", { className: "thread-conversation" });
  renderConversation(host, span, tools, goTo);
  card.append(host);
  return card;
}

/** Go to a call of the thread (and an anchor in it: a tool call or its result). */
function goTo(spanId, anchor) {
  const target = (anchor && document.getElementById(anchor)) || document.getElementById(`call-${spanId}`);
  if (!target) return;
  target.scrollIntoView({ block: "center" });
  target.classList.remove("flash");
  void target.offsetWidth; // restart the flash animation
  target.classList.add("flash");
  select(document.getElementById(`call-${spanId}`));
}

// Each trace's section is kept while nothing in it changes: a live update redraws only the traces it touched
// (a new turn, a call that finished), so what the reader expanded or selected elsewhere stays as it was.
const sections = new Map(); // trace_id -> {signature, section}

function signature(trace, mine, tools) {
  const calls = mine.map((span) => [span.span_id, span.is_pending, span.end_ns, span.status_code, span.events?.length, span.attributes?.["gen_ai.output.messages"]?.length]);
  return JSON.stringify([trace, calls, toolLinks(tools, mine)]);
}

/** The tool calls and results these calls link to: a result that comes in a later turn adds a link here. */
function toolLinks(tools, mine) {
  const ids = new Set(mine.map((span) => span.span_id));
  const links = [];
  for (const [id, entry] of tools) {
    if (entry.calls.some((span) => ids.has(span)) || entry.results.some((span) => ids.has(span))) links.push([id, entry.calls, entry.results]);
  }
  return links;
}

function traceSection(trace, index, mine, tools) {
  return el(
    "section",
    { className: `thread-trace status-${trace.status}`, id: `trace-${trace.trace_id}`, dataset: { traceId: trace.trace_id } },
    traceHeader(trace, index),
    mine.length ? mine.map((span) => callCard(span, tools)) : el("p", { className: "hint" }, `No model call in this trace (${trace.span_count} span${trace.span_count === 1 ? "" : "s"}).`),
  );
}

function render(data) {
  const calls = data.spans.filter((span) => span.kind === "llm");
  const tools = toolIndex(data.spans);
  facts(data.thread, calls.length);
  const shown = data.traces.map((trace, index) => {
    const mine = calls.filter((span) => span.trace_id === trace.trace_id);
    // The position is part of it: a trace's number (#n) and what its calls extend follow from the ones before.
    const key = signature({ ...trace, index }, mine, tools);
    const known = sections.get(trace.trace_id);
    if (known?.signature === key) return known.section;
    const section = traceSection(trace, index, mine, tools);
    sections.set(trace.trace_id, { signature: key, section });
    return section;
  });
  const kept = new Set(data.traces.map((trace) => trace.trace_id));
  for (const id of sections.keys()) if (!kept.has(id)) sections.delete(id);
  if (data.left_out) shown.push(el("p", { className: "hint" }, `${data.left_out} newer traces are not shown: open them from the trace list.`));
  // Nodes already in place are not moved (moving one would reset its scroll and focus).
  let at = timeline.firstChild;
  for (const node of shown) {
    if (node === at) {
      at = at.nextSibling;
      continue;
    }
    timeline.insertBefore(node, at);
  }
  while (at) {
    const next = at.nextSibling;
    at.remove();
    at = next;
  }
  traceIds = kept;
}

async function load() {
  const data = await getJSON(`/api/threads/${encodeURIComponent(threadId)}`);
  const selected = timeline.querySelector(".thread-call.selected")?.dataset.spanId;
  render(data);
  if (selected) document.getElementById(`call-${selected}`)?.classList.add("selected"); // a redrawn card
  return data.cursor;
}

function select(card) {
  for (const other of timeline.querySelectorAll(".thread-call.selected")) other.classList.remove("selected");
  card?.classList.add("selected");
}

function moveCall(by) {
  const all = [...timeline.querySelectorAll(".thread-call")];
  const next = all[step(all.length, all.findIndex((card) => card.classList.contains("selected")), by)];
  if (!next) return;
  select(next);
  next.focus({ preventScroll: true });
  next.scrollIntoView({ block: "start" });
}

installKeys([
  ["j / ↓", "next model call of the conversation", () => moveCall(1)],
  ["k / ↑", "previous model call", () => moveCall(-1)],
  ["u", "back to the thread list", () => (location.href = "/threads")],
]);

let reloading = null;
try {
  const cursor = await load();
  follow({}, cursor, (changes) => {
    const touched = changes.cleared || changes.removed.some((id) => traceIds.has(id)) || changes.traces.some((trace) => trace.thread_id === threadId || traceIds.has(trace.trace_id));
    if (!touched) return;
    reloading ??= setTimeout(() => {
      reloading = null;
      load().catch((error) => (totals.textContent = `Could not reload the thread: ${error.message}`));
    }, 300);
  });
} catch (error) {
  timeline.replaceChildren(el("p", { className: "error-text" }, `Could not load the thread: ${error.message}`));
}
