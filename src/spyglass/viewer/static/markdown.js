// A small Markdown renderer that cannot produce markup from its input: it builds only whitelisted
// elements (p, h3-h6, ul, ol, li, blockquote, pre, code, strong, em, a, br, hr) with DOM calls, and every
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
    const list = BULLET.test(line) ? BULLET : NUMBERED.test(line) ? NUMBERED : null;
    if (list) {
      const items = el(list === BULLET ? "ul" : "ol");
      while (i < all.length && list.test(all[i])) items.append(el("li", {}, ...inline(list.exec(all[i++])[1])));
      fragment.append(items);
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
      !QUOTE.test(all[i])
    ) {
      paragraph.push(all[i++]);
    }
    fragment.append(el("p", {}, ...lines(paragraph)));
  }
  return fragment;
}
