// What changed since the previous call: in a loop of calls (an agent using tools) each call resends the
// whole history. Find the earlier model call of the trace whose conversation this one extends, so the
// panel can show only the new messages, and what changed in the system instructions, tools and parameters.

import { parseJSON } from "./dom.js";

const SYSTEM_ROLES = new Set(["system", "developer"]);

function messagesOf(span, key) {
  const messages = parseJSON(span.attributes[key]);
  return Array.isArray(messages) ? messages : null;
}

const conversational = (messages) => messages.filter((message) => !SYSTEM_ROLES.has(message?.role));

/** A message as compared: role and parts only (an output message also carries its finish reason). */
const keyOf = (message) => JSON.stringify([message?.role, message?.parts]);

// Two 32-bit hashes of each prefix of a list of message keys: prefixes compare in constant time, so finding
// the previous call stays fast in a thread of hundreds of calls each resending the whole history.
function prefixHashes(keys) {
  const first = [0];
  const second = [0];
  for (const key of keys) {
    let a = 0x811c9dc5;
    let b = 0x9e3779b9;
    for (let i = 0; i < key.length; i += 1) {
      const code = key.charCodeAt(i);
      a = Math.imul(a ^ code, 0x01000193);
      b = Math.imul(b ^ code, 0x5bd1e995) ^ (b >>> 15);
    }
    first.push((Math.imul(first.at(-1), 0x01000193) ^ a) >>> 0);
    second.push((Math.imul(second.at(-1), 0x5bd1e995) ^ b) >>> 0);
  }
  return [first, second];
}

const shapes = new WeakMap(); // span -> its conversation's message keys and prefix hashes (null: none)

function shapeOf(span) {
  let shape = shapes.get(span);
  if (shape === undefined) {
    const input = span.kind === "llm" ? messagesOf(span, "gen_ai.input.messages") : null;
    if (input) {
      const inputKeys = conversational(input).map(keyOf);
      const history = [...inputKeys, ...conversational(messagesOf(span, "gen_ai.output.messages") ?? []).map(keyOf)];
      shape = { inputKeys, history, inputHashes: prefixHashes(inputKeys), historyHashes: prefixHashes(history) };
    } else shape = null;
    shapes.set(span, shape);
  }
  return shape;
}

/** How many leading messages two lists share: by binary search on their prefix hashes, or (`exact`) one by one. */
function sharedPrefix(mine, theirs, exact) {
  const limit = Math.min(mine.inputKeys.length, theirs.history.length);
  if (exact) {
    let shared = 0;
    while (shared < limit && mine.inputKeys[shared] === theirs.history[shared]) shared += 1;
    return shared;
  }
  const [a, b] = [mine.inputHashes, theirs.historyHashes];
  let low = 0;
  let high = limit;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (a[0][middle] === b[0][middle] && a[1][middle] === b[1][middle]) low = middle;
    else high = middle - 1;
  }
  return low;
}

/**
 * The latest earlier model call whose input (and output, as far as it goes) starts this span's input.
 * Returns {previous, shared}: `shared` leading input messages of this span (system messages aside) were
 * already in that call; null when no earlier call fits. `spans` may hold calls of other traces (a thread's).
 */
export function previousCall(span, spans) {
  const found = bestPrevious(span, spans, false);
  // A hash collision cannot give a wrong answer: the one found is checked message by message.
  if (!found || sharedPrefix(shapeOf(span), shapeOf(found.previous), true) === found.shared) return found;
  return bestPrevious(span, spans, true);
}

function bestPrevious(span, spans, exact) {
  const mine = shapeOf(span);
  if (!mine) return null;
  const start = BigInt(span.start_ns);
  let best = null;
  for (const other of spans) {
    if (other === span || other.kind !== "llm" || BigInt(other.start_ns) >= start) continue; // before shaping it
    const theirs = shapeOf(other);
    if (!theirs || theirs.inputKeys.length > mine.inputKeys.length) continue;
    const shared = sharedPrefix(mine, theirs, exact);
    if (shared < theirs.inputKeys.length || shared === 0) continue; // it must hold that call's whole input
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
