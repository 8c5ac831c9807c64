// The Conversation tab: system instructions, input and output messages as role-styled cards.
// Model output is hostile: text goes in as text (or through the whitelist Markdown renderer), images load
// only when clicked, and tool calls link to their results by id.

import { el, parseJSON } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { changesSince, newMessages, previousCall } from "./since.js";

const MARKDOWN_KEY = "spyglass.markdown";

export { parseJSON };

export function hasConversation(span) {
  const a = span.attributes;
  return ["gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.definitions"].some(
    (key) => key in a,
  );
}

/** call id -> {name, calls: [spanId], results: [spanId]}: the spans of the trace holding each call and result. */
export function toolIndex(spans) {
  const index = new Map();
  const entry = (id) => index.get(id) ?? index.set(id, { name: null, calls: [], results: [] }).get(id);
  for (const span of spans) {
    for (const key of ["gen_ai.input.messages", "gen_ai.output.messages"]) {
      const messages = parseJSON(span.attributes[key]);
      if (!Array.isArray(messages)) continue;
      for (const message of messages) {
        for (const part of message?.parts ?? []) {
          if (!part?.id) continue;
          if (part.type === "tool_call") {
            const found = entry(String(part.id));
            found.name ??= part.name;
            if (!found.calls.includes(span.span_id)) found.calls.push(span.span_id);
          }
          if (part.type === "tool_call_response") {
            const found = entry(String(part.id));
            if (!found.results.includes(span.span_id)) found.results.push(span.span_id);
          }
        }
      }
    }
  }
  index.spans = spans;
  return index;
}

/** The span to link to: this one when it holds the other end, else the first that does. */
function otherEnd(spanIds, span) {
  if (spanIds.includes(span.span_id)) return span.span_id;
  return spanIds[0] ?? null;
}

/**
 * Render a span's conversation into `container`.
 * `goTo(spanId, anchor)` selects another span of the trace and scrolls to an anchor in it.
 */
export function renderConversation(container, span, tools, goTo) {
  const markdown = localStorage.getItem(MARKDOWN_KEY) === "on";
  const toggle = el("input", { type: "checkbox", id: "markdown-toggle" });
  toggle.checked = markdown;
  const body = el("div", { className: "conversation" });
  let showAll = false;
  const draw = () => {
    body.replaceChildren(...cards(span, tools, goTo, toggle.checked, showAll, () => {
      showAll = !showAll;
      draw();
    }));
  };
  toggle.addEventListener("change", () => {
    localStorage.setItem(MARKDOWN_KEY, toggle.checked ? "on" : "off");
    draw();
  });
  container.append(
    el("div", { className: "conversation-bar" }, el("label", {}, toggle, " Markdown")),
    body,
  );
  draw();
}

function cards(span, tools, goTo, markdown, showAll, toggleAll) {
  const a = span.attributes;
  const context = { span, tools, goTo, markdown, related: relatedSpans(span, tools.spans) };
  const out = [];
  // `tools.earlier`: the model calls of the thread's earlier traces, when the page knows them (trace.js).
  const since = previousCall(span, tools.earlier ? [...tools.earlier, ...tools.spans] : tools.spans);
  if (since) out.push(sinceBar(since, span, context, showAll, toggleAll));
  const definitions = parseJSON(a["gen_ai.tool.definitions"]);
  if (Array.isArray(definitions) && definitions.length) out.push(toolDefinitions(definitions));
  const system = parseJSON(a["gen_ai.system_instructions"]);
  if (since && !showAll) {
    // the earlier call's system instructions, or a change to them in the bar above
  } else if (Array.isArray(system) && system.length) out.push(card("system", system, context));
  else if (a["gen_ai.system_instructions"] !== undefined && system === null) out.push(unparsed("system", a["gen_ai.system_instructions"]));
  for (const [key, label] of [
    ["gen_ai.input.messages", null],
    ["gen_ai.output.messages", "output"],
  ]) {
    if (a[key] === undefined) continue;
    const messages = parseJSON(a[key]);
    if (!Array.isArray(messages)) {
      out.push(unparsed(label ?? "input", a[key]));
      continue;
    }
    const shown = since && !showAll && key === "gen_ai.input.messages" ? newMessages(messages, since.shared) : messages;
    for (const message of shown) {
      out.push(card(String(message?.role ?? "unknown"), message?.parts ?? [], context, label, message?.finish_reason));
    }
  }
  const { stream, request } = context.related;
  if (stream && a["gen_ai.output.messages"] === undefined) {
    out.push(relatedLink("The answer was streamed: see the stream span", stream, context));
  }
  if (request && a["gen_ai.input.messages"] === undefined) {
    out.unshift(relatedLink("The conversation is on the call's span", request, context));
  }
  if (!out.length) out.push(el("p", { className: "hint" }, "No conversation recorded on this span (content capture may be off)."));
  return out;
}

/** For a streamed call: the request span and the stream span of the same call. */
function relatedSpans(span, spans) {
  const linksTo = (candidate, target) => candidate.links.some((link) => link.span_id === target.span_id);
  if (span.kind === "llm") {
    return { stream: spans.find((other) => other.kind === "llm_stream" && linksTo(other, span)) ?? null, request: null };
  }
  if (span.kind === "llm_stream") {
    return { stream: null, request: spans.find((other) => linksTo(span, other)) ?? null };
  }
  return { stream: null, request: null };
}

/** "Extends call N": the earlier messages one click away, and what changed since that call. */
function sinceBar(since, span, context, showAll, toggleAll) {
  const { previous, shared } = since;
  // The trace page knows its other spans by their waterfall fields: `tools.records` has the whole record.
  const changes = changesSince(context.tools.records?.get(previous.span_id) ?? previous, span);
  const toggle = el("button", { type: "button", className: "link show-earlier", onclick: toggleAll }, showAll ? "Show only the new messages" : `Show the ${shared} earlier message${shared === 1 ? "" : "s"}`);
  const elsewhere = previous.trace_id !== span.trace_id; // the previous call of the thread, in another trace
  const link = el("button", { type: "button", className: "link", onclick: () => context.goTo(previous.span_id, null, previous.trace_id) }, elsewhere ? "the thread's previous call" : "the previous call");
  const summary = changes.length
    ? el(
        "details",
        { className: "changes", open: true },
        el("summary", {}, `Changed since the previous call: ${changes.map((change) => change.what).join(", ")}`),
        el("table", { className: "changes" }, el("thead", {}, el("tr", {}, el("th", {}, "What"), el("th", {}, "Before"), el("th", {}, "Now"))), el("tbody", {}, ...changes.map((change) => el("tr", {}, el("th", { scope: "row" }, change.what), el("td", { className: "before" }, change.before ?? "(none)"), el("td", { className: "after" }, change.after ?? "(none)"))))),
      )
    : el("p", { className: "hint no-changes" }, "Same system instructions, tools and parameters as the previous call.");
  return el(
    "div",
    { className: "since" },
    el("p", {}, showAll ? "The whole conversation: " : `${shared} earlier message${shared === 1 ? " was" : "s were"} already sent in `, showAll ? null : link, showAll ? null : "; shown: what is new. ", toggle),
    summary,
  );
}

function relatedLink(text, other, context) {
  return el("p", { className: "related" }, el("button", { type: "button", className: "link", onclick: () => context.goTo(other.span_id, null) }, `${text} →`));
}

function card(role, parts, context, label, finishReason) {
  const head = el(
    "header",
    {},
    el("span", { className: "role" }, role),
    label ? el("span", { className: "label" }, label) : null,
    finishReason ? el("span", { className: "finish", title: "finish reason" }, String(finishReason)) : null,
  );
  const safeRole = /^[a-z_]+$/.test(role) ? role : "unknown";
  return el("article", { className: `message role-${safeRole}` }, head, ...(Array.isArray(parts) ? parts : [parts]).map((part) => partNode(part, context)));
}

function partNode(part, context) {
  if (typeof part === "string") return textBlock(part, context.markdown);
  const type = part?.type;
  if (type === "text") return textBlock(String(part.content ?? ""), context.markdown);
  if (type === "reasoning") return el("details", { className: "reasoning" }, el("summary", {}, "Reasoning"), textBlock(String(part.content ?? ""), context.markdown));
  if (type === "refusal") return el("div", { className: "refusal" }, el("strong", {}, "Refusal: "), String(part.content ?? ""));
  if (type === "tool_call") return toolCall(part, context);
  if (type === "tool_call_response") return toolResult(part, context);
  if (type === "uri") return uriPart(part);
  if (type === "blob" || type === "blob_reference") return blobPart(part);
  if (type === "file") return el("div", { className: "media" }, el("span", { className: "media-label" }, `${String(part.modality ?? "file")} file: `), el("code", {}, String(part.file_id ?? "")));
  if (type === "tokens") return el("div", { className: "tokens-part" }, `${Number(part.count)} tokens (a token array)`);
  return el("pre", { className: "json" }, JSON.stringify(part, null, 2));
}

function textBlock(text, markdown) {
  if (markdown) return el("div", { className: "text markdown" }, renderMarkdown(text));
  return el("div", { className: "text plain" }, text);
}

function anchorId(spanId, kind, callId) {
  return `tc-${kind}-${spanId}-${[...String(callId)].map((c) => c.charCodeAt(0).toString(16)).join("")}`;
}

function jump(spanId, context, kind, callId) {
  return () => context.goTo(spanId, anchorId(spanId, kind, callId));
}

function toolCall(part, context) {
  const callId = String(part.id ?? "");
  const found = context.tools.get(callId);
  const target = found && otherEnd(found.results, context.span);
  const here = target === context.span.span_id;
  const link = target
    ? el("button", { type: "button", className: "link", onclick: jump(target, context, "result", callId) }, here ? "↓ result" : "→ result (next call)")
    : el("span", { className: "hint" }, "no result in this trace");
  return el(
    "div",
    { className: "tool-call", id: anchorId(context.span.span_id, "call", callId) },
    el("div", { className: "tool-head" }, el("span", { className: "tool-label" }, "tool call "), el("code", { className: "tool-name" }, String(part.name ?? "?")), el("code", { className: "call-id" }, callId), link),
    el("pre", { className: "json arguments" }, pretty(part.arguments)),
  );
}

function toolResult(part, context) {
  const callId = String(part.id ?? "");
  const found = context.tools.get(callId);
  const target = found && otherEnd(found.calls, context.span);
  const here = target === context.span.span_id;
  const link = target
    ? el("button", { type: "button", className: "link", onclick: jump(target, context, "call", callId) }, here ? "↑ call" : "← call (earlier call)")
    : null;
  return el(
    "div",
    { className: "tool-result", id: anchorId(context.span.span_id, "result", callId) },
    el("div", { className: "tool-head" }, el("span", { className: "tool-label" }, "result of "), el("code", { className: "tool-name" }, String(found?.name ?? "tool")), el("code", { className: "call-id" }, callId), link),
    el("pre", { className: "json" }, pretty(part.response)),
  );
}

function pretty(value) {
  if (typeof value === "string") {
    const parsed = parseJSON(value);
    return parsed !== null && typeof parsed === "object" ? JSON.stringify(parsed, null, 2) : value;
  }
  return JSON.stringify(value ?? null, null, 2);
}

function uriPart(part) {
  const uri = String(part.uri ?? "");
  const modality = String(part.modality ?? "file");
  const box = el("div", { className: "media" }, el("span", { className: "media-label" }, `${modality}: `), el("a", { href: uri, rel: "noopener noreferrer nofollow", target: "_blank" }, uri));
  const loadable = modality === "image" && (/^https?:\/\//i.test(uri) || /^data:image\/(png|jpeg|gif|webp);/i.test(uri));
  if (loadable) {
    const button = el("button", { type: "button", className: "show-image" }, "Show image");
    button.addEventListener("click", () => {
      const image = el("img", { src: uri, alt: "image from the conversation", referrerpolicy: "no-referrer", className: "conversation-image" });
      image.addEventListener("error", () => {
        image.replaceWith(el("p", { className: "image-gone" }, "This image could not be loaded: its URL has expired or no longer answers (OpenAI's image URLs last about an hour)."));
      });
      button.replaceWith(image);
    });
    box.append(" ", button);
  }
  return box;
}

function blobPart(part) {
  const size = Number(part.size);
  const facts = [part.mime_type ?? part.modality ?? "data", Number.isFinite(size) ? `${size.toLocaleString("en-US")} bytes` : null]
    .filter(Boolean)
    .join(" · ");
  return el(
    "div",
    { className: "media blob" },
    el("span", { className: "media-label" }, `${String(part.modality ?? "blob")} (inline data, not stored): `),
    facts,
    part.sha256 ? el("code", { className: "hash", title: String(part.sha256) }, ` sha256 ${String(part.sha256).slice(0, 16)}…`) : null,
  );
}

function toolDefinitions(definitions) {
  return el(
    "details",
    { className: "message role-tools" },
    el("summary", {}, el("span", { className: "role" }, "tools offered"), " ", definitions.map((d) => String(d?.name ?? "?")).join(", ")),
    ...definitions.map((definition) =>
      el("div", { className: "tool-definition" }, el("code", { className: "tool-name" }, String(definition?.name ?? "?")), definition?.description ? el("p", {}, String(definition.description)) : null, el("pre", { className: "json" }, JSON.stringify(definition?.parameters ?? {}, null, 2))),
    ),
  );
}

function unparsed(role, raw) {
  return el("article", { className: "message role-unknown" }, el("header", {}, el("span", { className: "role" }, role), el("span", { className: "label" }, "not valid JSON")), el("div", { className: "text plain" }, String(raw)));
}
