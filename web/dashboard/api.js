// Calls to the server from the page: the API key (asked for once, kept for this tab), JSON
// requests that carry it, and a server-sent-event reader over fetch (EventSource cannot send
// an Authorization header).

const KEY_ITEM = "radixlm.dashboard.key";

export function apiKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_ITEM, key);
  else sessionStorage.removeItem(KEY_ITEM);
}

export function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, authorization: `Bearer ${key}` } : { ...extra };
}

/** An API error with the server's message (the OpenAI error format). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function errorOf(r) {
  let message = `${r.status} ${r.statusText}`;
  try {
    const body = await r.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch {
    // not JSON
  }
  return new ApiError(r.status, message);
}

export async function getJson(path) {
  const r = await fetch(path, { headers: headers() });
  if (!r.ok) throw await errorOf(r);
  return r.json();
}

export async function postJson(path, body, signal) {
  const r = await fetch(path, { method: "POST", headers: headers({ "content-type": "application/json" }), body: JSON.stringify(body), signal });
  if (!r.ok) throw await errorOf(r);
  return r;
}

/**
 * Reads a server-sent-event response, calling onEvent(name, data) for each event ("message"
 * when it has no name); resolves when the stream ends.
 */
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length > 0) onEvent(name, data.join("\n"));
    }
  }
}

/** Opens a GET event stream with the key; resolves to the response (throws ApiError on a non-2xx). */
export async function openStream(path, signal) {
  const r = await fetch(path, { headers: headers({ accept: "text/event-stream" }), signal });
  if (!r.ok) throw await errorOf(r);
  return r;
}
