// Replay: an editable copy of a recorded chat or Responses call's request, sent again by the viewer to the
// server the call was recorded calling (`spyglass view --allow-replay`). The page edits the request's
// messages, model and parameters only; where it goes is decided by the server, from the stored span.

import { getJSON, postJSON } from "./api.js";
import { el } from "./dom.js";

const ORIGINAL_TRACE = "spyglass.replay.original_trace_id";
const ORIGINAL_SPAN = "spyglass.replay.original_span_id";
const REPLAYABLE_PATHS = ["/chat/completions", "/responses"];

function replayAllowed() {
  return document.getElementById("trace")?.dataset.replay === "on";
}

/** What the panel's header shows about replay: the call this span replays, and a Replay button. */
export function replayControls(span) {
  const a = span.attributes;
  const parts = [];
  if (a[ORIGINAL_TRACE] && a[ORIGINAL_SPAN]) {
    parts.push(
      el(
        "p",
        { className: "replay-of" },
        "Replay of ",
        el("a", { href: `/trace/${encodeURIComponent(a[ORIGINAL_TRACE])}#span=${encodeURIComponent(a[ORIGINAL_SPAN])}` }, "the recorded call"),
      ),
    );
  }
  if (replayAllowed() && span.kind === "llm" && REPLAYABLE_PATHS.includes(a["spyglass.openai.path"])) {
    parts.push(el("button", { type: "button", className: "subtle replay-open", onclick: () => openEditor(span) }, "Replay…"));
  }
  return parts;
}

async function openEditor(span) {
  document.getElementById("replay-dialog")?.remove();
  const status = el("p", { className: "replay-status", role: "status" });
  const dialog = el("dialog", { id: "replay-dialog", className: "replay", "aria-label": "Replay this call" });
  document.body.append(dialog);
  dialog.append(el("h2", {}, "Replay this call"), status);
  dialog.showModal();
  let request;
  try {
    request = await getJSON(`/api/replay/${encodeURIComponent(span.trace_id)}/${encodeURIComponent(span.span_id)}`);
  } catch (error) {
    status.classList.add("error-text");
    status.textContent = `This call cannot be replayed: ${error.message}`;
    dialog.append(el("div", { className: "replay-actions" }, el("button", { type: "button", onclick: () => dialog.close() }, "Close")));
    return;
  }
  const form = editor(request.body);
  const send = el("button", { type: "submit", className: "replay-send" }, "Send");
  dialog.append(
    el(
      "p",
      { className: "hint" },
      "Sent to ",
      el("code", {}, request.url),
      request.key_sent ? " with OPENAI_API_KEY from the viewer's environment." : " with no API key (the viewer's key is only sent to OPENAI_BASE_URL's host).",
    ),
    ...request.notes.map((note) => el("p", { className: "hint replay-note" }, note)),
    el(
      "form",
      {
        method: "dialog",
        onsubmit: async (event) => {
          event.preventDefault();
          let body;
          try {
            body = form.read();
          } catch (error) {
            status.className = "replay-status error-text";
            status.textContent = error.message;
            return;
          }
          send.disabled = true;
          status.className = "replay-status";
          status.textContent = "Sending…";
          try {
            const done = await postJSON(`/api/replay/${encodeURIComponent(span.trace_id)}/${encodeURIComponent(span.span_id)}`, { body });
            const href = `/trace/${encodeURIComponent(done.trace_id)}#span=${encodeURIComponent(done.span_id)}`;
            if (!done.error) {
              location.href = href;
              return;
            }
            status.className = "replay-status error-text";
            status.replaceChildren(`The replayed call failed: ${done.error} `, el("a", { href }, "Open the recorded replay"));
          } catch (error) {
            status.className = "replay-status error-text";
            status.textContent = `Not sent: ${error.message}`;
          }
          send.disabled = false;
        },
      },
      form.node,
      el("div", { className: "replay-actions" }, send, el("button", { type: "button", onclick: () => dialog.close() }, "Cancel")),
    ),
  );
}

/** The form: the model, one box per message (its text, or its JSON when it is more than text), the rest as JSON. */
function editor(body) {
  const { model, messages, input, instructions, ...rest } = body;
  const modelBox = el("input", { type: "text", name: "model", value: model ?? "", "aria-label": "Model" });
  const conversationKey = messages !== undefined ? "messages" : "input";
  const items = messages ?? (typeof input === "string" ? [{ role: "user", content: input }] : input ?? []);
  const boxes = items.map((item, index) => {
    const plain = typeof item?.content === "string" && Object.keys(item).every((key) => key === "role" || key === "content");
    const box = el("textarea", { rows: plain ? 3 : 6, className: plain ? "replay-message" : "replay-message json", "aria-label": `Message ${index + 1} (${item?.role ?? item?.type ?? "item"})` });
    box.value = plain ? item.content : JSON.stringify(item, null, 2);
    return { item, plain, box };
  });
  const instructionsBox = instructions !== undefined ? el("textarea", { rows: 3, className: "replay-instructions", "aria-label": "Instructions" }) : null;
  if (instructionsBox) instructionsBox.value = instructions;
  const params = el("textarea", { rows: 6, className: "replay-params json", "aria-label": "Parameters (JSON)" });
  params.value = JSON.stringify(rest, null, 2);
  const node = el(
    "div",
    { className: "replay-editor" },
    el("label", {}, "Model ", modelBox),
    instructionsBox ? el("label", { className: "replay-field" }, el("span", { className: "role" }, "instructions"), instructionsBox) : null,
    ...boxes.map(({ item, box }) => el("label", { className: "replay-field" }, el("span", { className: "role" }, String(item?.role ?? item?.type ?? "item")), box)),
    el("label", { className: "replay-field" }, el("span", { className: "role" }, "parameters"), params),
  );
  const read = () => {
    const out = { model: modelBox.value.trim() };
    if (instructionsBox) out.instructions = instructionsBox.value;
    out[conversationKey] = boxes.map(({ item, plain, box }) => (plain ? { ...item, content: box.value } : parseBox(box, `message ${item?.role ?? ""}`)));
    return { ...out, ...parseBox(params, "parameters") };
  };
  return { node, read };
}

function parseBox(box, what) {
  try {
    return JSON.parse(box.value);
  } catch (error) {
    box.focus();
    throw new Error(`The ${what} box is not valid JSON: ${error.message}`);
  }
}
