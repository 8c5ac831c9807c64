// What changed since the previous call: in a loop of calls (an agent using tools) each call resends the
// whole history. Find the earlier model call of the trace whose conversation this one extends, so the
// panel can show only the new messages, and what changed in the system instructions, tools and parameters.

import { parseJSON } from "./dom.js";

const SYSTEM_ROLES = new Set(["system", "developer"]);

function messagesOf(span, key) {
  const messages = parseJSON(span.attributes[key]);
  return Array.isArray(messages) ? messages : null;
}

/** A message as compared: role and parts only (an output message also carries its finish reason). */
function same(a, b) {
  return JSON.stringify([a?.role, a?.parts]) === JSON.stringify([b?.role, b?.parts]);
}

const conversational = (messages) => messages.filter((message) => !SYSTEM_ROLES.has(message?.role));

/**
 * The latest earlier model call whose input (and output, as far as it goes) starts this span's input.
 * Returns {previous, shared}: `shared` leading input messages of this span (system messages aside) were
 * already in that call; null when no earlier call fits.
 */
export function previousCall(span, spans) {
  const input = messagesOf(span, "gen_ai.input.messages");
  if (!input || span.kind !== "llm") return null;
  const mine = conversational(input);
  let best = null;
  for (const other of spans) {
    if (other === span || other.kind !== "llm" || BigInt(other.start_ns) >= BigInt(span.start_ns)) continue;
    const before = messagesOf(other, "gen_ai.input.messages");
    if (!before) continue;
    const history = [...conversational(before), ...conversational(messagesOf(other, "gen_ai.output.messages") ?? [])];
    let shared = 0;
    while (shared < history.length && shared < mine.length && same(history[shared], mine[shared])) shared += 1;
    if (shared < conversational(before).length || shared === 0) continue; // it must hold that call's whole input
    if (!best || shared > best.shared || (shared === best.shared && BigInt(other.start_ns) > BigInt(best.previous.start_ns))) {
      best = { previous: other, shared };
    }
  }
  return best;
}

/** The messages to show by default: this span's input without system messages (a change to them is in
 * `changesSince`) and without the first `shared` other ones. */
export function newMessages(input, shared) {
  return conversational(input).slice(shared);
}

function systemText(span) {
  const parts = [];
  const instructions = parseJSON(span.attributes["gen_ai.system_instructions"]);
  if (Array.isArray(instructions)) parts.push(...instructions);
  for (const message of messagesOf(span, "gen_ai.input.messages") ?? []) {
    if (SYSTEM_ROLES.has(message?.role)) parts.push(...(message.parts ?? []));
  }
  return parts.map((part) => (typeof part === "string" ? part : part?.content ?? JSON.stringify(part))).join("\n");
}

function toolsByName(span) {
  const definitions = parseJSON(span.attributes["gen_ai.tool.definitions"]);
  return new Map((Array.isArray(definitions) ? definitions : []).map((tool) => [String(tool?.name ?? "?"), JSON.stringify(tool)]));
}

function parameters(span) {
  const found = new Map();
  for (const [key, value] of Object.entries(span.attributes)) {
    if (key.startsWith("gen_ai.request.") || key.startsWith("openai.request.")) found.set(key, JSON.stringify(value));
  }
  return found;
}

/** [{what, before, after}] for the system instructions, each tool and each request parameter that changed. */
export function changesSince(previous, span) {
  const changes = [];
  const [oldSystem, newSystem] = [systemText(previous), systemText(span)];
  if (oldSystem !== newSystem) changes.push({ what: "system instructions", before: oldSystem || null, after: newSystem || null });
  const [oldTools, newTools] = [toolsByName(previous), toolsByName(span)];
  for (const name of new Set([...oldTools.keys(), ...newTools.keys()])) {
    if (oldTools.get(name) !== newTools.get(name)) changes.push({ what: `tool ${name}`, before: oldTools.get(name) ?? null, after: newTools.get(name) ?? null });
  }
  const [oldParams, newParams] = [parameters(previous), parameters(span)];
  for (const key of [...new Set([...oldParams.keys(), ...newParams.keys()])].sort()) {
    if (oldParams.get(key) !== newParams.get(key)) changes.push({ what: key, before: oldParams.get(key) ?? null, after: newParams.get(key) ?? null });
  }
  return changes;
}
