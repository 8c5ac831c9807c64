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

/** Past this many rows only the rows in view are in the page (a 5,000-span trace drew in about a second). */
export const WINDOWED_FROM = 400;
const ROW_HEIGHT = 30; // px, fixed in the windowed waterfall (style.css: .waterfall-rows .span-row)
const OVERSCAN = 12; // rows drawn above and below the visible ones, so a scroll does not show gaps

const views = new WeakMap(); // container -> {order, selected, reveal(spanId), draw()}

export function renderWaterfall(container, spans, { selected, onSelect }) {
  const ordered = buildTree(spans);
  const now = BigInt(Date.now()) * 1000000n;
  const start = ordered.reduce((min, { span }) => (BigInt(span.start_ns) < min ? BigInt(span.start_ns) : min), BigInt(ordered[0]?.span.start_ns ?? 0));
  const endOf = (span) => (span.end_ns === null ? (now > BigInt(span.start_ns) ? now : BigInt(span.start_ns)) : BigInt(span.end_ns));
  const end = ordered.reduce((max, { span }) => (endOf(span) > max ? endOf(span) : max), start);
  const total = Number(end - start) || 1;
  const view = { order: ordered.map(({ span }) => span.span_id), selected };
  const row = (node) => {
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
    return el(
      "button",
      {
        type: "button",
        role: "treeitem",
        className: `span-row${span.status_code === "ERROR" ? " error" : ""}${span.is_pending ? " pending" : ""}`,
        dataset: { spanId: span.span_id },
        "aria-selected": String(span.span_id === view.selected),
        "aria-level": String(node.depth + 1),
        onclick: () => onSelect(span.span_id),
      },
      label,
      el("span", { className: "track" }, bar),
      el("span", { className: "duration" }, span.is_pending ? "running" : fmt.duration(span.duration_ns)),
    );
  };
  const head = el("div", { className: "waterfall-head" }, el("span", { className: "label" }, "Span"), el("span", { className: "track scale" }, el("span", {}, "0"), el("span", {}, fmt.duration(total))), el("span", { className: "duration" }, "Duration"));
  if (ordered.length < WINDOWED_FROM) {
    container.replaceChildren(head, ...ordered.map(row));
    view.reveal = (spanId) => container.querySelector(`.span-row[data-span-id="${CSS.escape(spanId)}"]`)?.scrollIntoView({ block: "nearest" });
  } else {
    windowed(container, head, ordered, row, view);
  }
  container.dataset.rows = String(ordered.length);
  views.set(container, view);
  return ordered;
}

/** The big waterfall: a scroll box as tall as every row, holding only the rows in view (and a few around). */
function windowed(container, head, ordered, row, view) {
  const box = el("div", { className: "waterfall-rows" });
  const spacer = el("div", { className: "waterfall-spacer" });
  const rows = el("div", { className: "waterfall-window" });
  spacer.style.height = `${ordered.length * ROW_HEIGHT}px`;
  spacer.append(rows);
  box.append(spacer);
  const scrollTop = container.querySelector(".waterfall-rows")?.scrollTop ?? 0; // a live redraw keeps the place
  container.replaceChildren(head, box);
  let drawn = null;
  view.draw = () => {
    const first = Math.max(0, Math.floor(box.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(ordered.length, Math.ceil((box.scrollTop + (box.clientHeight || 900)) / ROW_HEIGHT) + OVERSCAN);
    const key = `${first}:${last}:${view.selected}`;
    if (key === drawn) return;
    drawn = key;
    rows.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    rows.replaceChildren(
      ...ordered.slice(first, last).map((node, k) => {
        const item = row(node);
        item.setAttribute("aria-posinset", String(first + k + 1));
        item.setAttribute("aria-setsize", String(ordered.length));
        return item;
      }),
    );
  };
  view.reveal = (spanId) => {
    const at = view.order.indexOf(spanId);
    if (at < 0) return;
    const top = at * ROW_HEIGHT;
    if (top < box.scrollTop) box.scrollTop = top;
    else if (top + ROW_HEIGHT > box.scrollTop + box.clientHeight) box.scrollTop = top + ROW_HEIGHT - box.clientHeight;
    view.draw();
  };
  let pending = false;
  box.addEventListener("scroll", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      view.draw();
    });
  });
  box.scrollTop = scrollTop;
  view.draw();
}

/** The span ids in the order the waterfall shows them (drawn or not). */
export function spanOrder(container) {
  return views.get(container)?.order ?? [];
}

/** The span marked selected. */
export function selectedSpan(container) {
  return views.get(container)?.selected ?? null;
}

/** Mark the selected span (drawn now, or when scrolled to). */
export function markSelected(container, spanId) {
  const view = views.get(container);
  if (view) view.selected = spanId;
  for (const row of container.querySelectorAll('.span-row[aria-selected="true"]')) row.setAttribute("aria-selected", "false");
  container.querySelector(`.span-row[data-span-id="${CSS.escape(spanId ?? "")}"]`)?.setAttribute("aria-selected", "true");
}

/** Scroll the waterfall so the span's row is in view. */
export function revealSpan(container, spanId) {
  views.get(container)?.reveal?.(spanId);
}
