// Talking to the viewer's server: JSON reads, token-carrying writes, and the live change stream.

const token = document.querySelector('meta[name="spyglass-token"]')?.content ?? "";

export async function getJSON(url) {
  const response = await fetch(url, { headers: { accept: "application/json" } });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

/** A request that changes the store: it must carry this launch's token. */
export async function mutate(method, url) {
  const response = await fetch(url, { method, headers: { "x-spyglass-token": token } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

/** A POST carrying this launch's token (the browser adds the page's Origin): `body` goes as JSON, a File as its bytes. */
export async function postJSON(url, body, headers = {}) {
  const file = body instanceof Blob;
  const response = await fetch(url, {
    method: "POST",
    headers: { "x-spyglass-token": token, "content-type": "application/json", ...headers },
    body: file ? body : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

const live = document.getElementById("live");

function showLive(state, text) {
  live.hidden = false;
  live.dataset.state = state;
  live.textContent = text;
}

/**
 * Follow the store's changes from `cursor`: onChanges({traces, removed, cleared}) for each batch.
 * EventSource reconnects by itself and sends the last cursor back as Last-Event-ID.
 */
export function follow(params, cursor, onChanges) {
  const query = new URLSearchParams(params);
  query.set("cursor", cursor);
  const source = new EventSource(`/api/events?${query}`);
  source.addEventListener("open", () => showLive("on", "live"));
  source.addEventListener("error", () => showLive("off", "reconnecting…"));
  source.addEventListener("store-error", (event) => showLive("off", JSON.parse(event.data).message));
  source.addEventListener("changes", (event) => {
    showLive("on", "live");
    onChanges(JSON.parse(event.data));
  });
  return source;
}
