// Running and queued requests: prompt length, cached prefix, tokens so far, and an abort
// button (POST /abort_request, with the API key where the server has one).
import { postJson } from "./api.js";

export class RequestsTable {
  constructor(tbody, summary, onError) {
    this.tbody = tbody;
    this.summary = summary;
    this.onError = onError;
  }

  update(list) {
    const rows = list.data.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.id = r.id;
      tr.dataset.status = r.status;
      const cells = [
        r.sample_id, r.status, r.namespace ?? "(hidden)", r.prompt_tokens,
        r.cached_tokens === null ? "–" : `${r.cached_tokens} (${r.prompt_tokens > 0 ? Math.round((100 * r.cached_tokens) / r.prompt_tokens) : 0}%)`,
        r.output_tokens, `${(r.age_ms / 1000).toFixed(1)} s`,
      ];
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = String(c);
        td.title = String(c);
        tr.appendChild(td);
      }
      const td = document.createElement("td");
      const b = document.createElement("button");
      b.className = "abort";
      b.textContent = "abort";
      b.onclick = () => this.abort(r.id, b);
      td.appendChild(b);
      tr.appendChild(td);
      return tr;
    });
    this.tbody.replaceChildren(...rows);
    const running = list.data.filter((r) => r.status === "running").length;
    this.summary.textContent = `${running} running, ${list.total - running} waiting${list.total > list.data.length ? ` (${list.data.length} shown)` : ""}`;
  }

  async abort(id, button) {
    button.disabled = true;
    try {
      const r = await postJson("/abort_request", { rid: id });
      const body = await r.json();
      button.textContent = body.aborted > 0 ? "aborted" : "gone";
    } catch (e) {
      button.disabled = false;
      this.onError(`abort ${id}: ${e.message}`);
    }
  }
}
