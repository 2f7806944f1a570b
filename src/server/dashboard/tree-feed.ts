// The radix tree as the dashboard draws it: a snapshot of the largest nodes (the engine's
// cacheView), then deltas (nodes added or changed, ids removed) against a version the client
// holds. Views are taken at most every `minIntervalMs` whatever the number of clients and
// shared by all of them; the last few versions are remembered (each as node id -> a short
// signature), so that a client a version or two behind gets a delta and one further back a
// new snapshot. Text is detokenized here, for the nodes shown only, and truncated. Cache salts
// never leave the server: a salted namespace is shown, by a hash of its salt, only where the
// server has an API key (so that every client that sees it gave the key).
import { createHash } from "node:crypto";
import type { Engine } from "../../engine/engine.js";
import type { NodeState, RadixCacheView, ViewNode } from "../../kvcache/radix-view.js";

/** One node as the page gets it. */
export interface TreeNodeJson {
  readonly id: number;
  readonly parent: number;
  readonly tokens: number;
  readonly under: number;
  readonly depth: number;
  /** The tree's clock (it counts lookups) when this node was last used; the head's clock is now. */
  readonly last: number;
  readonly hits: number;
  readonly state: NodeState;
  /** Children left out of the view. */
  readonly more: number;
  readonly text: string;
}

export interface NamespaceJson {
  /** "shared" for the namespace without a salt, else "ns-" and the first 12 hex digits of the salt's SHA-256. */
  readonly name: string;
  readonly root: number;
  readonly tokens: number;
}

interface TreeHead {
  readonly version: number;
  readonly clock: number;
  readonly namespaces: readonly NamespaceJson[];
  readonly hidden_namespaces: number;
  readonly total_tokens: number;
  readonly shown_tokens: number;
  readonly truncated: boolean;
  readonly radix_cache: boolean;
}

export type TreeMessage =
  | (TreeHead & { readonly type: "snapshot"; readonly nodes: readonly TreeNodeJson[] })
  | (TreeHead & { readonly type: "delta"; readonly base: number; readonly upserts: readonly TreeNodeJson[]; readonly removed: readonly number[] });

const TEXT_TOKENS = 24;
const TEXT_CHARS = 80;
const KEPT_VERSIONS = 8;

interface Version {
  readonly version: number;
  readonly head: TreeHead;
  readonly nodes: readonly TreeNodeJson[];
  /** Node id -> its signature, to diff against. */
  readonly sigs: ReadonlyMap<number, string>;
}

export function namespaceName(salt: string): string {
  return salt === "" ? "shared" : "ns-" + createHash("sha256").update(salt, "utf8").digest("hex").slice(0, 12);
}

const sigOf = (n: TreeNodeJson): string => `${n.parent}|${n.depth}|${n.tokens}|${n.under}|${n.last}|${n.hits}|${n.state}|${n.more}`;

/** The views of one size (max nodes). */
class Feed {
  private readonly versions: Version[] = [];
  private takenAt = -Infinity;

  constructor(private readonly take: () => Omit<TreeHead, "version"> & { nodes: TreeNodeJson[] }, private readonly minIntervalMs: number, private next: () => number) {}

  /** The latest version, a new one taken if the last is older than the interval and the tree changed. */
  current(now = performance.now()): Version {
    const last = this.versions[this.versions.length - 1];
    if (last && now - this.takenAt < this.minIntervalMs) return last;
    this.takenAt = now;
    const v = this.take();
    const sigs = new Map(v.nodes.map((n) => [n.id, sigOf(n)]));
    const { nodes, ...rest } = v;
    if (last && sameHead(last.head, rest) && sameSigs(last.sigs, sigs)) return last;
    const version = this.next();
    const made: Version = { version, head: { ...rest, version }, nodes, sigs };
    this.versions.push(made);
    if (this.versions.length > KEPT_VERSIONS) this.versions.shift();
    return made;
  }

  /** A delta from `since` when that version is still known, else a snapshot. */
  message(since: number): TreeMessage {
    const cur = this.current();
    const base = since > 0 ? this.versions.find((v) => v.version === since) : undefined;
    if (!base) return { type: "snapshot", ...cur.head, nodes: cur.nodes };
    const upserts = cur.nodes.filter((n) => base.sigs.get(n.id) !== cur.sigs.get(n.id));
    const removed = [...base.sigs.keys()].filter((id) => !cur.sigs.has(id));
    return { type: "delta", ...cur.head, base: base.version, upserts, removed };
  }
}

function sameHead(a: TreeHead, b: Omit<TreeHead, "version">): boolean {
  return a.clock === b.clock && a.total_tokens === b.total_tokens && a.shown_tokens === b.shown_tokens && a.truncated === b.truncated &&
    a.hidden_namespaces === b.hidden_namespaces && JSON.stringify(a.namespaces) === JSON.stringify(b.namespaces);
}

function sameSigs(a: ReadonlyMap<number, string>, b: ReadonlyMap<number, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, s] of b) if (a.get(id) !== s) return false;
  return true;
}

export class TreeFeed {
  /** Feeds by max nodes; a few sizes at most (the least recently asked goes). */
  private readonly feeds = new Map<number, Feed>();
  private version = 0;
  /** Node text by "id:tokens" (a node's run only ever loses tokens at its front, by a split). */
  private texts = new Map<string, string>();

  constructor(private readonly engine: () => Engine | null, private readonly showSalted: boolean, private readonly minIntervalMs = 250) {}

  message(maxNodes: number, since: number): TreeMessage {
    let feed = this.feeds.get(maxNodes);
    if (feed) this.feeds.delete(maxNodes);
    else feed = new Feed(() => this.take(maxNodes), this.minIntervalMs, () => ++this.version);
    this.feeds.set(maxNodes, feed);
    if (this.feeds.size > 4) this.feeds.delete(this.feeds.keys().next().value!);
    return feed.message(since);
  }

  private take(maxNodes: number): Omit<TreeHead, "version"> & { nodes: TreeNodeJson[] } {
    const engine = this.engine();
    const view = engine?.cacheView({ maxNodes, textTokens: TEXT_TOKENS, include: (salt) => salt === "" || this.showSalted }) ?? null;
    if (!engine || !view) {
      return { clock: 0, namespaces: [], hidden_namespaces: 0, total_tokens: 0, shown_tokens: 0, truncated: false, radix_cache: view !== null, nodes: [] };
    }
    return { ...this.headOf(view), nodes: this.nodesOf(view, engine) };
  }

  private headOf(view: RadixCacheView): Omit<TreeHead, "version"> {
    return {
      clock: view.clock,
      namespaces: view.namespaces.map((n) => ({ name: namespaceName(n.salt), root: n.rootId, tokens: n.tokens })),
      hidden_namespaces: view.hiddenNamespaces, total_tokens: view.totalTokens, shown_tokens: view.shownTokens, truncated: view.truncated,
      radix_cache: true,
    };
  }

  private nodesOf(view: RadixCacheView, engine: Engine): TreeNodeJson[] {
    const texts = new Map<string, string>();
    const textOf = (n: ViewNode): string => {
      const k = `${n.id}:${n.tokens}`;
      let t = this.texts.get(k);
      if (t === undefined) {
        t = n.head.length === 0 ? "" : engine.model.tokenizer.decode(Array.from(n.head));
        if (n.tokens > n.head.length || t.length > TEXT_CHARS) t = t.slice(0, TEXT_CHARS) + "…";
      }
      texts.set(k, t);
      return t;
    };
    const out = view.nodes.map((n): TreeNodeJson => ({
      id: n.id, parent: n.parent, tokens: n.tokens, under: n.under, depth: n.depth, last: n.lastAccess,
      hits: n.hits, state: n.state, more: n.hiddenChildren, text: textOf(n),
    }));
    this.texts = texts;
    return out;
  }
}
