// Dropping an OTLP JSON file (the viewer's own export, a collector's file exporter...) anywhere on the page
// imports it into the store, as `spyglass import FILE` does: scrubbed, and nothing written when it is bad.

import { postJSON } from "./api.js";
import { el } from "./dom.js";

const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
let depth = 0; // dragenter/dragleave pairs, one per element crossed

function banner() {
  let node = document.getElementById("drop-status");
  if (!node) {
    node = el("div", { id: "drop-status", className: "drop-status", role: "status" });
    document.body.append(node);
  }
  node.hidden = false;
  return node;
}

async function importFile(file) {
  const status = banner();
  status.className = "drop-status";
  status.textContent = `Importing ${file.name}…`;
  try {
    const done = await postJSON("/api/import", file, { "x-spyglass-file-name": encodeURIComponent(file.name) });
    const traces = done.trace_ids.length;
    const first = `/trace/${encodeURIComponent(done.trace_ids[0])}`;
    status.replaceChildren(
      `Imported ${done.spans.toLocaleString("en-US")} span${done.spans === 1 ? "" : "s"} in ${traces} trace${traces === 1 ? "" : "s"} from ${file.name}. `,
      el("a", { href: first }, traces === 1 ? "Open it" : "Open the first"),
      " ",
      el("button", { type: "button", className: "link", onclick: () => (status.hidden = true) }, "Dismiss"),
    );
  } catch (error) {
    status.className = "drop-status error";
    status.replaceChildren(`${error.message} `, el("button", { type: "button", className: "link", onclick: () => (status.hidden = true) }, "Dismiss"));
  }
}

document.addEventListener("dragenter", (event) => {
  if (!hasFiles(event)) return;
  depth += 1;
  document.body.classList.add("dropping");
});
document.addEventListener("dragleave", () => {
  depth = Math.max(0, depth - 1);
  if (!depth) document.body.classList.remove("dropping");
});
document.addEventListener("dragover", (event) => {
  if (hasFiles(event)) event.preventDefault(); // says the page takes the drop
});
document.addEventListener("drop", (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  depth = 0;
  document.body.classList.remove("dropping");
  const [file] = event.dataTransfer.files;
  if (file) importFile(file);
});
