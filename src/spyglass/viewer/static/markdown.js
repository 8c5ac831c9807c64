// A small Markdown renderer that cannot produce markup from its input: it builds only whitelisted
// elements (p, h3-h6, ul, ol, li, table, thead, tbody, tr, th, td, blockquote, pre, code, strong, em, a, br,
// hr) with DOM calls, and every
// piece of the source ends up in a text node. Links keep only http(s) targets.

import { el } from "./dom.js";

const INLINE = [
  { kind: "code", re: /`([^`\n]+)`/ },
  { kind: "link", re: /\[([^\]\n]+)\]\((https?:\/\/[^)\s]+)\)/ },
  { kind: "strong", re: /\*\*(?=\S)([^\n]*?\S)\*\*/ },
  { kind: "strong", re: /(?<![\w])__(?=\S)([^\n]*?\S)__(?![\w])/ },
  { kind: "em", re: /\*(?=[^\s*])([^*\n]*?[^\s*])\*/ },
  { kind: "em", re: /(?<![\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\w])/ },
];

/** Inline Markdown of one line as nodes. */
function inline(text) {
  const nodes = [];
  let rest = text;
  while (rest) {
    let best = null;
    for (const rule of INLINE) {
      const match = rule.re.exec(rest);
      if (match && (best === null || match.index < best.match.index)) best = { rule, match };
    }
    if (best === null) {
      nodes.push(document.createTextNode(rest));
      break;
    }
    const { rule, match } = best;
    if (match.index > 0) nodes.push(document.createTextNode(rest.slice(0, match.index)));
    if (rule.kind === "code") nodes.push(el("code", {}, match[1]));
    else if (rule.kind === "link") {
      nodes.push(el("a", { href: match[2], rel: "noopener noreferrer nofollow", target: "_blank" }, ...inline(match[1])));
    } else nodes.push(el(rule.kind, {}, ...inline(match[1])));
    rest = rest.slice(match.index + match[0].length);
  }
  return nodes;
}

function lines(textLines) {
  const nodes = [];
  textLines.forEach((line, index) => {
    if (index > 0) nodes.push(el("br"));
    nodes.push(...inline(line));
  });
  return nodes;
}

const FENCE = /^\s*(```|~~~)\s*([\w+-]*)\s*$/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d+[.)]\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const TABLE_ROW = /^\s*\|?.*\|.*$/;
const TABLE_RULE = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const MAX_LIST_DEPTH = 6; // deeper indentation stays at this depth: hostile input cannot nest without end

function cells(line) {
  const trimmed = line.trim().replace(/^\|/, "").replace(/(?<!\\)\|$/, "");
  return trimmed.split(/(?<!\\)\|/).map((cell) => cell.trim().replaceAll("\\|", "|"));
}

/** A GitHub-style table: a header row, a rule row (---|---), then body rows; starts at all[i]. */
function table(all, i) {
  const head = cells(all[i]);
  const rows = [];
  let j = i + 2;
  while (j < all.length && all[j].trim() && TABLE_ROW.test(all[j])) rows.push(cells(all[j++]));
  const row = (values, tag) => el("tr", {}, ...head.map((_, k) => el(tag, {}, ...inline(values[k] ?? ""))));
  return { node: el("table", {}, el("thead", {}, row(head, "th")), el("tbody", {}, ...rows.map((values) => row(values, "td")))), next: j };
}

/** Consecutive list lines as nested lists, nested by indentation; starts at all[i]. */
function list(all, i) {
  const root = document.createDocumentFragment();
  const stack = []; // [{indent, tag, node}] from the outermost list in
  let j = i;
  while (j < all.length && (BULLET.test(all[j]) || NUMBERED.test(all[j]))) {
    const line = all[j++];
    const indent = line.length - line.trimStart().length;
    const tag = BULLET.test(line) ? "ul" : "ol";
    const content = (BULLET.exec(line) ?? NUMBERED.exec(line))[1];
    while (stack.length && stack.at(-1).indent > indent) stack.pop();
    let top = stack.at(-1);
    if (top && top.indent === indent && top.tag !== tag) {
      stack.pop();
      top = stack.at(-1);
    }
    if (!top || (indent > top.indent && stack.length < MAX_LIST_DEPTH)) {
      const node = el(tag);
      (top?.node.lastElementChild ?? top?.node ?? root).append(node);
      top = { indent, tag, node };
      stack.push(top);
    }
    top.node.append(el("li", {}, ...inline(content)));
  }
  return { node: root, next: j };
}

/** Markdown source as a DocumentFragment of safe elements. */
export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  const all = String(source).replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < all.length) {
    const line = all[i];
    const fence = FENCE.exec(line);
    if (fence) {
      const code = [];
      i += 1;
      while (i < all.length && !all[i].trim().startsWith(fence[1])) code.push(all[i++]);
      i += 1;
      fragment.append(el("pre", { className: "code" }, el("code", { dataset: { lang: fence[2] || "" } }, code.join("\n"))));
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      fragment.append(el(`h${Math.min(heading[1].length + 2, 6)}`, {}, ...inline(heading[2])));
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      fragment.append(el("hr"));
      i += 1;
      continue;
    }
    if (BULLET.test(line) || NUMBERED.test(line)) {
      const found = list(all, i);
      fragment.append(found.node);
      i = found.next;
      continue;
    }
    if (TABLE_ROW.test(line) && i + 1 < all.length && TABLE_RULE.test(all[i + 1])) {
      const found = table(all, i);
      fragment.append(found.node);
      i = found.next;
      continue;
    }
    if (QUOTE.test(line)) {
      const quoted = [];
      while (i < all.length && QUOTE.test(all[i])) quoted.push(QUOTE.exec(all[i++])[1]);
      fragment.append(el("blockquote", {}, ...lines(quoted)));
      continue;
    }
    const paragraph = [];
    while (
      i < all.length &&
      all[i].trim() &&
      !FENCE.test(all[i]) &&
      !HEADING.test(all[i]) &&
      !BULLET.test(all[i]) &&
      !NUMBERED.test(all[i]) &&
      !QUOTE.test(all[i]) &&
      !(TABLE_ROW.test(all[i]) && TABLE_RULE.test(all[i + 1] ?? ""))
    ) {
      paragraph.push(all[i++]);
    }
    fragment.append(el("p", {}, ...lines(paragraph)));
  }
  return fragment;
}
