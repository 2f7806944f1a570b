// The radix tree as an icicle, drawn in SVG: left to right is token position (a node spans its
// run, from the tokens above it to its end), top to bottom each node shares its parent's band
// among its children by the tokens under them. Colour: orange while a running request holds
// it (locked), blue when evictable (darker: used more recently), grey when only the disk has it.
// Click a node to zoom into its subtree; the path above it, to zoom out. TreeModel applies the
// server's snapshot and deltas (tree-feed.ts).

const SVG = "http://www.w3.org/2000/svg";
const GUTTER = 112;

export class TreeModel {
  constructor() {
    this.nodes = new Map();
    this.head = null;
    this.version = 0;
  }

  /** Applies a snapshot or a delta; false when a delta does not start from the version held (ask for a snapshot). */
  apply(msg) {
    if (msg.type === "snapshot") {
      this.nodes = new Map(msg.nodes.map((n) => [n.id, n]));
    } else {
      if (msg.base !== this.version) return false;
      for (const id of msg.removed) this.nodes.delete(id);
      for (const n of msg.upserts) this.nodes.set(n.id, n);
    }
    const { nodes, upserts, removed, ...head } = msg;
    this.head = head;
    this.version = msg.version;
    return true;
  }

  children() {
    const out = new Map();
    for (const n of this.nodes.values()) {
      if (!out.has(n.parent)) out.set(n.parent, []);
      out.get(n.parent).push(n);
    }
    for (const list of out.values()) list.sort((a, b) => b.under - a.under || a.id - b.id);
    return out;
  }

  /** The ids from a namespace root down to `id`. */
  pathTo(id) {
    const path = [];
    for (let n = this.nodes.get(id); n; n = this.nodes.get(n.parent)) path.unshift(n.id);
    return path;
  }
}

function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

export class TreeView {
  /**
   * @param {HTMLElement} host where the SVG goes
   * @param {HTMLElement} crumbs the path of the zoomed node (click to zoom out)
   * @param {HTMLElement} tip the hover box
   * @param {HTMLSelectElement} picker the namespace to show (all by default)
   */
  constructor(host, crumbs, tip, picker, model) {
    this.host = host;
    this.crumbs = crumbs;
    this.tip = tip;
    this.picker = picker;
    this.model = model;
    this.focus = null;
    this.namespace = null;
    picker.onchange = () => {
      this.namespace = picker.value === "" ? null : picker.value;
      this.focus = null;
      this.render();
    };
    this.highlight = new Set();
    this.pending = false;
    this.svg = el("svg", { class: "icicle", role: "img", "aria-label": "radix tree" }, host);
    this.svg.addEventListener("mouseleave", () => (this.tip.hidden = true));
    new ResizeObserver(() => this.draw()).observe(host);
  }

  /** Redraws on the next frame (several updates in one frame draw once). */
  draw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  zoom(id) {
    this.focus = id;
    this.render();
  }

  setHighlight(ids) {
    this.highlight = new Set(ids);
    this.render();
  }

  render() {
    const m = this.model;
    const width = Math.max(300, this.host.clientWidth);
    const height = Math.max(200, this.host.clientHeight);
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.svg.setAttribute("width", width);
    this.svg.setAttribute("height", height);
    this.svg.replaceChildren();
    if (this.focus !== null && !m.nodes.has(this.focus)) this.focus = null;
    const kids = m.children();
    const namespaces = (m.head?.namespaces ?? []).filter((ns) => m.nodes.has(ns.root) && (this.namespace === null || ns.name === this.namespace));
    this.renderPicker();
    this.renderCrumbs();
    if (namespaces.length === 0 || namespaces.every((ns) => ns.tokens === 0)) {
      el("text", { x: 16, y: 28, class: "empty" }, this.svg).textContent = m.head && !m.head.radix_cache ? "The radix cache is off (--disable-radix-cache)." : "The cache is empty: send a request.";
      return;
    }
    // The nodes to lay out: the zoomed node, or every namespace root.
    const tops = this.focus !== null ? [m.nodes.get(this.focus)] : namespaces.map((ns) => m.nodes.get(ns.root));
    const start = this.focus !== null ? m.nodes.get(this.focus).depth : 0;
    let end = start + 1;
    const stack = [...tops];
    while (stack.length > 0) {
      const n = stack.pop();
      end = Math.max(end, n.depth + n.tokens);
      for (const c of kids.get(n.id) ?? []) stack.push(c);
    }
    const x = (pos) => GUTTER + ((pos - start) / (end - start)) * (width - GUTTER - 2);
    const recency = this.recencyOf();
    const total = tops.reduce((a, n) => a + Math.max(1, n.under), 0);
    let y = 0;
    for (const n of tops) {
      const h = (Math.max(1, n.under) / total) * height;
      this.layout(n, y, h, x, kids, recency, true);
      y += h;
    }
  }

  /** Draws `n` in the band [y, y + h) and its children within it. */
  layout(n, y, h, x, kids, recency, top) {
    if (h < 0.75) return;
    const x0 = top ? 0 : x(n.depth);
    const x1 = top && n.tokens === 0 ? GUTTER - 2 : x(n.depth + n.tokens);
    const children = kids.get(n.id) ?? [];
    const g = el("g", { class: "node" }, this.svg);
    const rect = el("rect", {
      x: x0, y: y + 0.5, width: Math.max(1, x1 - x0 - 1), height: Math.max(0.5, h - 1),
      fill: this.colour(n, recency), "data-id": n.id, "data-tokens": n.tokens, "data-depth": n.depth, "data-under": n.under,
      "data-state": n.state, "data-hits": n.hits, "data-children": children.length, "data-text": n.text ?? "",
    }, g);
    if (this.highlight.size > 0 && n.state !== "root") {
      if (this.highlight.has(n.id)) rect.classList.add("lit");
      else rect.classList.add("dim");
    }
    const label = n.state === "root" ? this.namespaceOf(n.id) : n.text;
    if (x1 - x0 > 36 && h >= 13 && label) {
      const t = el("text", { x: x0 + 4, y: y + Math.min(h / 2, 14) + 4, class: "label" }, g);
      const chars = Math.floor((x1 - x0 - 8) / 6.5);
      t.textContent = label.length > chars ? label.slice(0, Math.max(1, chars - 1)) + "…" : label;
    }
    g.addEventListener("mousemove", (e) => this.showTip(e, n, children.length));
    g.addEventListener("click", (e) => {
      e.stopPropagation();
      this.zoom(n.state === "root" && this.focus === n.id ? null : n.id);
    });
    const sum = children.reduce((a, c) => a + Math.max(1, c.under), 0);
    let cy = y;
    for (const c of children) {
      const ch = (Math.max(1, c.under) / Math.max(sum, n.under - n.tokens, 1)) * h;
      this.layout(c, cy, ch, x, kids, recency, false);
      cy += ch;
    }
  }

  namespaceOf(rootId) {
    return (this.model.head?.namespaces ?? []).find((ns) => ns.root === rootId)?.name ?? "";
  }

  /** Each node's recency from 0 (least recently used of those shown) to 1 (most). */
  recencyOf() {
    const lasts = [...new Set([...this.model.nodes.values()].map((n) => n.last))].sort((a, b) => a - b);
    const rank = new Map(lasts.map((l, i) => [l, lasts.length > 1 ? i / (lasts.length - 1) : 1]));
    return (n) => rank.get(n.last) ?? 0;
  }

  colour(n, recency) {
    if (n.state === "root") return "#3b4252";
    if (n.state === "disk") return "#a7adb8";
    const r = recency(n);
    if (n.state === "locked") return `hsl(24, 90%, ${58 - 14 * r}%)`;
    return `hsl(212, 65%, ${82 - 40 * r}%)`;
  }

  showTip(e, n, shownChildren) {
    const age = Math.max(0, (this.model.head?.clock ?? 0) - n.last);
    const lines = n.state === "root"
      ? [`namespace ${this.namespaceOf(n.id)}`, `${n.under} tokens cached`]
      : [
          n.text || "(no text)",
          `${n.tokens} tokens (positions ${n.depth}–${n.depth + n.tokens - 1}), ${n.under} in its subtree`,
          `${n.state}, ${n.hits} hits, last used ${age === 0 ? "by the latest lookup" : `${age} lookups ago`}`,
          `${shownChildren} children shown${n.more > 0 ? `, ${n.more} more not shown` : ""}`,
        ];
    this.tip.replaceChildren(...lines.map((l, i) => {
      const d = document.createElement("div");
      if (i === 0) d.className = "tip-text";
      d.textContent = l;
      return d;
    }));
    this.tip.hidden = false;
    const box = this.host.getBoundingClientRect();
    this.tip.style.left = `${Math.min(e.clientX - box.left + 14, box.width - 320)}px`;
    this.tip.style.top = `${e.clientY - box.top + 14}px`;
  }

  /** The namespace list, rebuilt only when the namespaces change. */
  renderPicker() {
    const names = (this.model.head?.namespaces ?? []).map((ns) => ns.name);
    const key = names.join(",");
    if (this.picker.dataset.names === key) return;
    this.picker.dataset.names = key;
    if (this.namespace !== null && !names.includes(this.namespace)) this.namespace = null;
    const options = [["", `all namespaces (${names.length})`], ...names.map((n) => [n, n])].map(([value, label]) => {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = label;
      o.selected = (this.namespace ?? "") === value;
      return o;
    });
    this.picker.replaceChildren(...options);
  }

  renderCrumbs() {
    const parts = [];
    const all = document.createElement("button");
    all.textContent = this.namespace === null ? "top" : this.namespace;
    all.onclick = () => this.zoom(null);
    parts.push(all);
    if (this.focus !== null) {
      for (const id of this.model.pathTo(this.focus)) {
        const n = this.model.nodes.get(id);
        const b = document.createElement("button");
        b.textContent = n.state === "root" ? this.namespaceOf(id) : `${n.tokens} tok “${(n.text || "").slice(0, 18)}”`;
        b.onclick = () => this.zoom(id);
        parts.push(document.createTextNode(" › "), b);
      }
    }
    const h = this.model.head;
    if (h) {
      const note = document.createElement("span");
      note.className = "note";
      const hidden = h.hidden_namespaces > 0 ? `; ${h.hidden_namespaces} salted namespace(s) hidden (they show with an API key set)` : "";
      note.textContent = ` ${this.model.nodes.size} nodes, ${h.shown_tokens} of ${h.total_tokens} tokens shown${h.truncated ? " (largest nodes only)" : ""}${hidden}`;
      parts.push(note);
    }
    this.crumbs.replaceChildren(...parts);
  }
}
