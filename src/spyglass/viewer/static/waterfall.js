// The span tree as a waterfall: one row per span, indented under its parent, with a bar placed on the
// trace's timeline, and token and cost badges summed over the span and everything under it.

import { el } from "./dom.js";
import * as fmt from "./format.js";

const MAX_INDENT = 40; // levels of indentation shown; a 10,000-deep trace stays readable

/** Spans as a forest: [{span, children, depth, tokens, cost, errors}] in display order. */
export function buildTree(spans) {
  const nodes = new Map(spans.map((span) => [span.span_id, { span, children: [], start: BigInt(span.start_ns) }]));
  const roots = [];
  for (const node of nodes.values()) {
    const parent = node.span.parent_span_id && nodes.get(node.span.parent_span_id);
    (parent ? parent.children : roots).push(node);
  }
  const byStart = (a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0);
  // Both walks are loops, not recursion: a trace can be thousands of spans deep (recursion overflowed).
  const ordered = [];
  const parents = new Map(); // node -> its parent, as walked
  const stack = roots.sort(byStart).map((root) => ({ node: root, depth: 0, parent: null })).reverse();
  const everyNode = nodes.values();
  for (;;) {
    if (!stack.length) {
      // Spans in a parent cycle (broken or hostile input) reach no root: each cycle is shown from one of its spans.
      let next = everyNode.next();
      while (!next.done && parents.has(next.value)) next = everyNode.next();
      if (next.done) break;
      stack.push({ node: next.value, depth: 0, parent: null });
    }
    const { node, depth, parent } = stack.pop();
    if (parents.has(node)) continue;
    parents.set(node, parent);
    node.depth = depth;
    ordered.push(node);
    node.children.sort(byStart);
    for (let k = node.children.length - 1; k >= 0; k -= 1) stack.push({ node: node.children[k], depth: depth + 1, parent: node });
  }
  for (const node of ordered) {
    node.tokens = (node.span.input_tokens ?? 0) + (node.span.output_tokens ?? 0);
    node.hasTokens = node.span.input_tokens !== null || node.span.output_tokens !== null;
    node.cost = node.span.cost_usd ?? 0;
    node.hasCost = node.span.cost_usd !== null;
    node.errors = node.span.status_code === "ERROR" ? 1 : 0;
  }
  // Children come after their parent in `ordered`: summing from the end adds each subtree before its root.
  for (let k = ordered.length - 1; k >= 0; k -= 1) {
    const child = ordered[k];
    const node = parents.get(child);
    if (!node) continue;
    node.tokens += child.tokens;
    node.hasTokens ||= child.hasTokens;
    node.cost += child.cost;
    node.hasCost ||= child.hasCost;
    node.errors += child.errors;
  }
  return ordered;
}

export function renderWaterfall(container, spans, { selected, onSelect }) {
  const ordered = buildTree(spans);
  const now = BigInt(Date.now()) * 1000000n;
  const start = ordered.reduce((min, { span }) => (BigInt(span.start_ns) < min ? BigInt(span.start_ns) : min), BigInt(ordered[0]?.span.start_ns ?? 0));
  const endOf = (span) => (span.end_ns === null ? (now > BigInt(span.start_ns) ? now : BigInt(span.start_ns)) : BigInt(span.end_ns));
  const end = ordered.reduce((max, { span }) => (endOf(span) > max ? endOf(span) : max), start);
  const total = Number(end - start) || 1;
  const rows = ordered.map((node) => {
    const { span } = node;
    const left = (Number(BigInt(span.start_ns) - start) / total) * 100;
    const width = Math.max((Number(endOf(span) - BigInt(span.start_ns)) / total) * 100, 0.4);
    const bar = el("span", { className: "bar" });
    bar.style.left = `${left}%`;
    bar.style.width = `${Math.min(width, 100 - left)}%`;
    const name = el(
      "span",
      { className: "name" },
      el("span", { className: `kind kind-${/^[a-z_]+$/.test(span.kind ?? "") ? span.kind : "other"}` }, span.kind ?? span.span_kind.toLowerCase()),
      " ",
      el("span", { className: "text" }, span.message || span.name),
    );
    const badges = el(
      "span",
      { className: "badges" },
      node.hasTokens ? el("span", { className: "badge tokens", title: node.children.length ? "tokens, this span and below" : "tokens" }, `${fmt.tokens(node.tokens)} tok`) : null,
      node.hasCost ? el("span", { className: "badge cost", title: node.children.length ? "cost, this span and below" : "cost" }, fmt.cost(node.cost)) : null,
      node.errors && span.status_code !== "ERROR" ? el("span", { className: "badge status error", title: "a span below failed" }, `${node.errors} error${node.errors > 1 ? "s" : ""} below`) : null,
      span.status_code === "ERROR" ? el("span", { className: "badge status error" }, "error") : null,
    );
    const label = el("span", { className: "label" }, name, badges);
    label.style.paddingLeft = `${Math.min(node.depth, MAX_INDENT) * 1.1}em`; // deeper rows say their depth
    if (node.depth > MAX_INDENT) label.title = `depth ${node.depth}`;
    const row = el(
      "button",
      {
        type: "button",
        role: "treeitem",
        className: `span-row${span.status_code === "ERROR" ? " error" : ""}${span.is_pending ? " pending" : ""}`,
        dataset: { spanId: span.span_id },
        "aria-selected": String(span.span_id === selected),
        onclick: () => onSelect(span.span_id),
      },
      label,
      el("span", { className: "track" }, bar),
      el("span", { className: "duration" }, span.is_pending ? "running" : fmt.duration(span.duration_ns)),
    );
    return row;
  });
  container.replaceChildren(
    el("div", { className: "waterfall-head" }, el("span", { className: "label" }, "Span"), el("span", { className: "track scale" }, el("span", {}, "0"), el("span", {}, fmt.duration(total))), el("span", { className: "duration" }, "Duration")),
    ...rows,
  );
  return ordered;
}
