// A token-level radix tree over KV slots. Edges are token runs; a node is split where a
// query or an insert diverges mid-run. Every path from a namespace root spells a cached
// token sequence and its slots. Nodes on a running request's path are locked; unlocked
// leaves are evicted least recently used first, and a parent becomes a leaf (and so
// evictable) when its last child goes. The tree never frees a slot: evicted slots go back
// to the caller. A namespace (salt) has a root only while it holds entries: one that eviction
// or a flush leaves empty is dropped, so a stream of distinct salts costs nothing once their
// entries are gone. An optional listener hears which token runs the tree comes to hold and
// which it drops (KV events, kv-events.ts); without one, nothing on these paths allocates.
import { concatSlots, type CacheHandle, type CacheKey, type CacheStats, type InsertResult, type MatchResult, type PrefixCache } from "./prefix-cache.js";
import { MinHeap } from "../util/min-heap.js";

class Node implements CacheHandle {
  readonly children = new Map<number, Node>();
  lockRef = 0;
  lastAccess = 0;
  constructor(
    readonly id: number,
    public parent: Node | null,
    public key: Int32Array,
    public slots: Int32Array,
  ) {}
}

function commonPrefix(a: Int32Array, b: ArrayLike<number>, bStart: number): number {
  const n = Math.min(a.length, b.length - bStart);
  let i = 0;
  while (i < n && a[i] === b[bStart + i]) i++;
  return i;
}

/** What a match in a namespace with no entries ends at: no parent, so lock and unlock pass it by. */
const EMPTY_NAMESPACE = new Node(0, null, new Int32Array(0), new Int32Array(0));

/** Hears the tree's changes in terms of whole cached sequences (KV events). */
export interface CacheListener {
  /** Namespace `salt` now holds `ids` (from position 0), of which it held the first `from` before. */
  stored(salt: string, ids: ArrayLike<number>, from: number): void;
  /** Namespace `salt` no longer holds `path` (from position 0) past its first `from` tokens. */
  removed(salt: string, path: Int32Array, from: number): void;
  /** The tree holds nothing any more (a flush with no entry locked). */
  cleared(): void;
}

/** One cached sequence: a leaf's whole path from its namespace root. */
export interface CachedSequence {
  readonly salt: string;
  readonly ids: Int32Array;
}

export class RadixCache implements PrefixCache {
  /** Namespace roots by salt; a root with no children is never kept. */
  private readonly roots = new Map<string, Node>();
  private nextId = 1;
  private clock = 0;
  private evictable = 0;
  private protectedTokens = 0;
  private hits = 0;
  private queried = 0;
  private evicted = 0;
  version = 0;
  /** The salt of each namespace root, for the listener (roots are few and made rarely). */
  private readonly saltOf = new Map<Node, string>();

  constructor(private readonly listener: CacheListener | null = null) {}

  private root(salt: string): Node {
    let r = this.roots.get(salt);
    if (!r) {
      r = new Node(this.nextId++, null, new Int32Array(0), new Int32Array(0));
      // A root is never evicted: hold one lock on it forever.
      r.lockRef = 1;
      this.roots.set(salt, r);
      this.saltOf.set(r, salt);
    }
    return r;
  }

  /** Splits `node` after `at` tokens; returns the new upper part. */
  private split(node: Node, at: number): Node {
    const parent = node.parent!;
    const upper = new Node(this.nextId++, parent, node.key.subarray(0, at), node.slots.subarray(0, at));
    upper.lockRef = node.lockRef;
    upper.lastAccess = node.lastAccess;
    parent.children.set(upper.key[0]!, upper);
    node.parent = upper;
    node.key = node.key.subarray(at);
    node.slots = node.slots.subarray(at);
    upper.children.set(node.key[0]!, node);
    return upper;
  }

  /**
   * Follows `ids` down from the namespace root, splitting the last node where the ids leave
   * it mid-run, and touching every node on the way. Returns the deepest node and the
   * matched length; `parts` collects the slots of the path when given.
   */
  private walk(ids: ArrayLike<number>, salt: string, parts: Int32Array[] | null): { node: Node; pos: number } {
    const now = ++this.clock;
    let node = this.root(salt);
    node.lastAccess = now;
    let pos = 0;
    while (pos < ids.length) {
      const child = node.children.get(ids[pos]!);
      if (!child) break;
      const n = commonPrefix(child.key, ids, pos);
      const next = n < child.key.length ? this.split(child, n) : child;
      next.lastAccess = now;
      parts?.push(next.slots);
      pos += n;
      node = next;
      if (n < child.key.length) break;
    }
    return { node, pos };
  }

  match(key: CacheKey): MatchResult {
    // A lookup never makes a namespace: only an insert does.
    if (!this.roots.has(key.salt)) return { slots: new Int32Array(0), handle: EMPTY_NAMESPACE };
    const parts: Int32Array[] = [];
    const { node } = this.walk(key.ids, key.salt, parts);
    return { slots: concatSlots(parts), handle: node };
  }

  insert(key: CacheKey, slots: Int32Array): InsertResult {
    const ids = key.ids;
    if (slots.length !== ids.length) throw new Error(`radix insert: ${ids.length} ids but ${slots.length} slots`);
    if (ids.length === 0) return { alreadyCached: 0, cached: 0 };
    const { node, pos } = this.walk(ids, key.salt, null);
    if (pos === ids.length) return { alreadyCached: pos, cached: pos };
    const run = Int32Array.from({ length: ids.length - pos }, (_, i) => ids[pos + i]!);
    const leaf = new Node(this.nextId++, node, run, slots.slice(pos));
    leaf.lastAccess = this.clock;
    node.children.set(run[0]!, leaf);
    this.evictable += run.length;
    this.version++;
    this.listener?.stored(key.salt, ids, pos);
    return { alreadyCached: pos, cached: ids.length };
  }

  lock(handle: CacheHandle): void {
    for (let n: Node | null = handle as Node; n && n.parent; n = n.parent) {
      if (n.lockRef === 0) {
        this.evictable -= n.key.length;
        this.protectedTokens += n.key.length;
      }
      n.lockRef++;
    }
  }

  unlock(handle: CacheHandle): void {
    for (let n: Node | null = handle as Node; n && n.parent; n = n.parent) {
      if (n.lockRef <= 0) throw new Error("radix cache: unlock of a node that is not locked");
      n.lockRef--;
      if (n.lockRef === 0) {
        this.evictable += n.key.length;
        this.protectedTokens -= n.key.length;
      }
    }
  }

  evict(tokens: number): Int32Array {
    const slots = this.dropUnlocked(tokens);
    this.evicted += slots.length;
    return slots;
  }

  /** Drops unlocked leaves until `tokens` are freed; `report`: tell the listener of each. */
  private dropUnlocked(tokens = Number.POSITIVE_INFINITY, report = true): Int32Array {
    // Unlocked leaves, oldest first. The tree is walked once; leaves that appear as their
    // children go are merged into the sorted queue.
    const leaves: Node[] = [];
    const walk = (n: Node): void => {
      if (n.children.size === 0) {
        if (n.parent && n.lockRef === 0) leaves.push(n);
        return;
      }
      for (const c of n.children.values()) walk(c);
    };
    for (const r of this.roots.values()) walk(r);
    const heap = new MinHeap<Node>((a, b) => a.lastAccess - b.lastAccess || a.id - b.id);
    for (const l of leaves) heap.push(l);
    const dropped: Int32Array[] = [];
    let freed = 0;
    while (freed < tokens) {
      const leaf = heap.pop();
      if (!leaf) break;
      if (report && this.listener) this.reportRemoved(this.listener, leaf);
      dropped.push(leaf.slots);
      freed += leaf.key.length;
      this.evictable -= leaf.key.length;
      const parent = leaf.parent!;
      parent.children.delete(leaf.key[0]!);
      leaf.parent = null;
      if (parent.parent && parent.children.size === 0 && parent.lockRef === 0) heap.push(parent);
    }
    if (freed > 0) this.version++;
    // Namespaces left empty go (a request that matched nothing in one may still hold its
    // root as its handle: lock and unlock pass roots by, and an insert makes a new one).
    for (const [salt, r] of this.roots) {
      if (r.children.size > 0) continue;
      this.roots.delete(salt);
      this.saltOf.delete(r);
    }
    return concatSlots(dropped);
  }

  /** Tells the listener that `leaf`, about to go, takes its run of its path with it. */
  private reportRemoved(listener: CacheListener, leaf: Node): void {
    let depth = 0;
    let r = leaf;
    for (let n: Node | null = leaf.parent; n; n = n.parent) {
      depth += n.key.length;
      r = n;
    }
    const path = new Int32Array(depth + leaf.key.length);
    let end = path.length;
    for (let n: Node | null = leaf; n && n.parent; n = n.parent) {
      end -= n.key.length;
      path.set(n.key, end);
    }
    listener.removed(this.saltOf.get(r)!, path, depth);
  }

  flush(): Int32Array {
    // With nothing locked every entry goes: one "cleared" says it, instead of each removal.
    const all = this.protectedTokens === 0;
    const slots = this.dropUnlocked(Number.POSITIVE_INFINITY, !all);
    if (all) this.listener?.cleared();
    this.hits = 0;
    this.queried = 0;
    return slots;
  }

  recordQuery(queried: number, matched: number): void {
    this.queried += queried;
    this.hits += matched;
  }

  /** Every cached sequence, one per leaf (inspection: KV-event snapshots, tests). */
  *sequences(): Generator<CachedSequence> {
    for (const [salt, root] of this.roots) {
      const stack: { node: Node; path: Int32Array }[] = [{ node: root, path: root.key }];
      for (let top = stack.pop(); top; top = stack.pop()) {
        if (top.node.children.size === 0) {
          if (top.node.parent) yield { salt, ids: top.path };
          continue;
        }
        for (const c of top.node.children.values()) {
          const path = new Int32Array(top.path.length + c.key.length);
          path.set(top.path);
          path.set(c.key, top.path.length);
          stack.push({ node: c, path });
        }
      }
    }
  }

  stats(): CacheStats {
    return {
      cachedTokens: this.evictable + this.protectedTokens,
      evictableTokens: this.evictable,
      protectedTokens: this.protectedTokens,
      hitTokens: this.hits,
      queriedTokens: this.queried,
      evictedTokens: this.evicted,
      namespaces: this.roots.size,
    };
  }
}
