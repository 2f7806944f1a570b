// A chat box that streams from /v1/chat/completions and, after each answer, asks where that
// answer's ids run in the tree (/dashboard/api/requests/:id/path) to light that path up and
// say how many prompt tokens came from the cache.
import { getJson, postJson, readEvents } from "./api.js";

export class Playground {
  constructor(form, log, status, tree) {
    this.form = form;
    this.log = log;
    this.status = status;
    this.tree = tree;
    this.messages = [];
    this.controller = null;
    /** The served model name (set from /dashboard/api/info). */
    this.model = "default";
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.send();
    });
    form.querySelector("[name=clear]").onclick = () => {
      this.messages = [];
      this.log.replaceChildren();
      this.tree.setHighlight([]);
      this.status.textContent = "";
    };
  }

  bubble(role, text) {
    const d = document.createElement("div");
    d.className = `msg ${role}`;
    d.textContent = text;
    this.log.appendChild(d);
    this.log.scrollTop = this.log.scrollHeight;
    return d;
  }

  async send() {
    const input = this.form.querySelector("[name=prompt]");
    const text = input.value.trim();
    if (!text || this.controller) return;
    const system = this.form.querySelector("[name=system]").value.trim();
    const maxTokens = Number(this.form.querySelector("[name=max_tokens]").value) || 64;
    input.value = "";
    this.messages.push({ role: "user", content: text });
    this.bubble("user", text);
    const out = this.bubble("assistant", "");
    out.dataset.chunks = "0";
    const body = {
      model: this.model, stream: true, stream_options: { include_usage: true }, max_tokens: maxTokens,
      messages: system ? [{ role: "system", content: system }, ...this.messages] : this.messages,
    };
    this.controller = new AbortController();
    this.status.textContent = "streaming…";
    let id = null;
    let usage = null;
    let answer = "";
    try {
      const r = await postJson("/v1/chat/completions", body, this.controller.signal);
      await readEvents(r, (_name, data) => {
        if (data === "[DONE]") return;
        const chunk = JSON.parse(data);
        id = chunk.id ?? id;
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices?.[0]?.delta?.content ?? "";
        if (delta) {
          answer += delta;
          out.textContent = answer;
          out.dataset.chunks = String(Number(out.dataset.chunks) + 1);
        }
      });
      this.messages.push({ role: "assistant", content: answer });
      out.dataset.done = "true";
      await this.showPath(id, usage);
    } catch (e) {
      this.status.textContent = `error: ${e.message}`;
    } finally {
      this.controller = null;
    }
  }

  async showPath(id, usage) {
    const cached = usage?.prompt_tokens_details?.cached_tokens ?? 0;
    const prompt = usage?.prompt_tokens ?? 0;
    let path = null;
    try {
      if (id) path = await getJson(`/dashboard/api/requests/${encodeURIComponent(id)}/path`);
    } catch {
      // evicted already, or in a namespace not shown
    }
    this.tree.setHighlight(path ? path.node_ids : []);
    this.status.dataset.reused = String(cached);
    this.status.textContent = `${id ?? "answer"}: ${cached} of ${prompt} prompt tokens reused from the cache` +
      (path ? `; its ${path.tokens} tokens run through ${path.node_ids.length} nodes (highlighted)` : "");
  }
}
