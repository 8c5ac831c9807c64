// The span panel: tabs for the conversation, the call's details, attributes, events and the raw span.

import { hasConversation, parseJSON, renderConversation } from "./conversation.js";
import { el } from "./dom.js";
import * as fmt from "./format.js";
import { replayControls } from "./replay.js";

const TABS = [
  ["conversation", "Conversation"],
  ["details", "Details"],
  ["attributes", "Attributes"],
  ["events", "Events"],
  ["raw", "Raw JSON"],
];

/** Show `span` in `panel`; `tab` is the one to open (falls back to a sensible one). */
export function renderPanel(panel, span, { tab, tools, goTo, onTab }) {
  const available = TABS.filter(([name]) => name !== "conversation" || hasConversation(span));
  const chosen = available.some(([name]) => name === tab) ? tab : available[0][0];
  const list = el("div", { className: "tabs", role: "tablist" });
  const body = el("div", { className: "tab-body", role: "tabpanel" });
  const show = (name) => {
    for (const button of list.children) button.setAttribute("aria-selected", String(button.dataset.tab === name));
    body.replaceChildren();
    RENDER[name](body, span, tools, goTo);
    onTab(name);
  };
  for (const [name, label] of available) {
    const count = name === "events" && span.events.length ? ` (${span.events.length})` : "";
    list.append(el("button", { type: "button", role: "tab", dataset: { tab: name }, onclick: () => show(name) }, label + count));
  }
  panel.replaceChildren(header(span), list, body);
  show(chosen);
}

function header(span) {
  const failed = span.status_code === "ERROR";
  return el(
    "div",
    { className: `panel-head${failed ? " error" : ""}` },
    el("h2", {}, span.message || span.name),
    el(
      "p",
      { className: "panel-sub" },
      el("span", { className: "kind" }, span.kind || span.span_kind),
      " · ",
      span.is_pending ? "running" : fmt.duration(span.duration_ns),
      span.model ? ` · ${span.model}` : "",
      failed ? el("span", { className: "badge status error" }, "error") : null,
    ),
    failed && span.status_description ? el("p", { className: "error-text" }, span.status_description) : null,
    ...replayControls(span),
  );
}

const RENDER = {
  conversation(body, span, tools, goTo) {
    renderConversation(body, span, tools, goTo);
  },
  details(body, span) {
    const a = span.attributes;
    const rows = [];
    const add = (label, value) => {
      if (value !== undefined && value !== null && value !== "") rows.push([label, value]);
    };
    add("Model", span.model);
    add("Response model", span.response_model);
    add("Operation", span.operation);
    add("Provider", span.provider);
    add("Server", a["server.address"] ? `${a["server.address"]}:${a["server.port"] ?? ""}` : null);
    add("API path", a["spyglass.openai.path"]);
    for (const [key, value] of Object.entries(a)) {
      if (key.startsWith("gen_ai.request.") && key !== "gen_ai.request.model") add(key.slice("gen_ai.request.".length).replaceAll("_", " "), show(value));
    }
    add("Service tier", a["openai.request.service_tier"] ?? a["openai.response.service_tier"]);
    add("Input tokens", num(a["gen_ai.usage.input_tokens"] ?? span.input_tokens));
    add("Output tokens", num(a["gen_ai.usage.output_tokens"] ?? span.output_tokens));
    add("Cached input tokens", num(a["gen_ai.usage.cache_read.input_tokens"]));
    add("Reasoning tokens", num(a["gen_ai.usage.reasoning.output_tokens"]));
    add("Usage source", a["spyglass.usage.source"]);
    add("Cost", span.cost_usd !== null ? fmt.cost(span.cost_usd) : a["spyglass.cost.status"] === "unknown" ? `unknown (${a["spyglass.cost.reason"] ?? "no reason given"})` : null);
    add("Finish reasons", show(a["gen_ai.response.finish_reasons"]));
    add("Time to first chunk", typeof a["gen_ai.response.time_to_first_chunk"] === "number" ? fmt.duration(a["gen_ai.response.time_to_first_chunk"] * 1e9) : null);
    add("Chunks", num(a["spyglass.stream.chunk_count"]));
    add("Stream outcome", a["spyglass.stream.outcome"]);
    add("Request id", a["spyglass.openai.request_id"]);
    add("Response id", a["gen_ai.response.id"]);
    add("Error type", a["error.type"]);
    add("HTTP status", a["http.response.status_code"]);
    add("Status", span.status_description ? `${span.status_code}: ${span.status_description}` : span.status_code);
    add("Started", fmt.fullTime(span.start_ns));
    add("Duration", span.is_pending ? "still running" : fmt.duration(span.duration_ns));
    add("Span", `${span.span_kind} ${span.name}`);
    add("Span id", span.span_id);
    add("Service", span.service_name);
    body.append(el("dl", { className: "details" }, ...rows.flatMap(([label, value]) => [el("dt", {}, label), el("dd", {}, String(value))])));
  },
  attributes(body, span) {
    body.append(attributeTable("Span attributes", span.attributes));
    if (span.resource?.attributes) body.append(attributeTable("Resource", span.resource.attributes));
    if (span.scope) body.append(attributeTable("Instrumentation scope", span.scope));
    if (span.links.length) body.append(el("h3", {}, "Links"), el("pre", { className: "json" }, JSON.stringify(span.links, null, 2)));
  },
  events(body, span) {
    if (!span.events.length) {
      body.append(el("p", { className: "hint" }, "No events on this span."));
      return;
    }
    for (const event of span.events) {
      const at = fmt.duration(Number(BigInt(event.time_ns) - BigInt(span.start_ns)));
      const a = event.attributes ?? {};
      if (event.name === "exception") {
        body.append(
          el(
            "div",
            { className: "event exception" },
            el("h3", {}, el("span", { className: "badge status error" }, "exception"), ` ${a["exception.type"] ?? ""}`, el("span", { className: "hint" }, ` at +${at}`)),
            el("p", { className: "error-text" }, String(a["exception.message"] ?? "")),
            a["exception.stacktrace"] ? el("pre", { className: "stack" }, String(a["exception.stacktrace"])) : null,
          ),
        );
      } else {
        body.append(el("div", { className: "event" }, el("h3", {}, event.name, el("span", { className: "hint" }, ` at +${at}`)), attributeTable(null, a)));
      }
    }
  },
  raw(body, span) {
    const text = JSON.stringify(span, null, 2);
    const copy = el("button", { type: "button" }, "Copy");
    copy.addEventListener("click", async () => {
      await navigator.clipboard?.writeText(text);
      copy.textContent = "Copied";
    });
    body.append(el("div", { className: "raw-bar" }, copy), el("pre", { className: "json raw" }, text));
  },
};

function num(value) {
  return typeof value === "number" ? fmt.tokens(value) : null;
}

function show(value) {
  if (value === undefined || value === null) return null;
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

const FOLD_LINES = 12;
const FOLD_CHARS = 1200;

/** A long value shows its first lines with a button for the rest, so one attribute cannot bury the others. */
function foldable(node, text) {
  const lineCount = text.split("\n").length;
  if (lineCount <= FOLD_LINES && text.length <= FOLD_CHARS) return node;
  const box = el("div", { className: "fold folded" }, node);
  const label = () => (box.classList.contains("folded") ? `Show all (${lineCount.toLocaleString("en-US")} line${lineCount === 1 ? "" : "s"}, ${text.length.toLocaleString("en-US")} characters)` : "Fold");
  const button = el("button", { type: "button", className: "link fold-toggle" }, "");
  button.textContent = label();
  button.addEventListener("click", () => {
    box.classList.toggle("folded");
    button.textContent = label();
  });
  box.append(button);
  return box;
}

function attributeTable(title, attributes) {
  const rows = Object.keys(attributes)
    .sort()
    .map((key) => {
      const value = attributes[key];
      const parsed = typeof value === "string" && /^[[{]/.test(value) ? parseJSON(value) : null;
      const text = parsed !== null ? JSON.stringify(parsed, null, 2) : typeof value === "string" ? value : JSON.stringify(value);
      const shown = el(parsed !== null ? "pre" : "span", { className: parsed !== null ? "json wrap" : `value ${typeof value}` }, text);
      return el("tr", {}, el("th", { scope: "row" }, key), el("td", {}, foldable(shown, text)));
    });
  return el("div", { className: "attributes" }, title ? el("h3", {}, title) : null, el("table", { className: "attributes" }, el("tbody", {}, ...rows)));
}
