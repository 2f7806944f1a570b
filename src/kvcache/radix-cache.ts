// A token-level radix tree over KV slots. Edges are token runs; a node is split where a
// query or an insert diverges mid-run. Every path from a namespace root spells a cached
// token sequence and its slots. Nodes on a running request's path are locked; unlocked
// leaves are evicted least recently used first, and a parent becomes a leaf (and so
// evictable) when its last child goes. The tree never frees a slot: evicted slots go back
// to the caller. A namespace (salt) has a root only while it holds entries: one that eviction
// or a flush leaves empty is dropped, so a stream of distinct salts costs nothing once their
// entries are gone. An optional listener hears which token runs the tree comes to hold and
// which it drops (KV events, kv-events.ts); without one, nothing on these paths allocates.
//
// Disk tier: a node whose KV was also written to a store (markOnDisk) is not dropped when
// evicted: its slots go and it stays in the tree, disk-only, so that a later match reports it
// (MatchResult.disk) and its KV can be loaded back instead of computed: an insert through
// disk-only nodes gives them the caller's slots again. Disk-only nodes are only ever below the
// pool-resident part of a path.
import { concatSlots, type CacheHandle, type CacheKey, type CacheStats, type DiskRun, type InsertResult, type MatchResult, type PrefixCache } from "./prefix-cache.js";
import { MinHeap } from "../util/min-heap.js";
import { addUnder, commonPrefix, EMPTY_NAMESPACE, inPool, Node, pathOf } from "./radix-node.js";
import { locate, viewOf, type LocatedPath, type RadixCacheView, type ViewOptions } from "./radix-view.js";
import { continuationOf, pathItems, sequencesOf, unsavedRuns, type CachedSequence, type UnsavedRun } from "./radix-walks.js";

export type { CachedSequence, UnsavedRun } from "./radix-walks.js";

/** Hears the tree's changes in terms of whole cached sequences (KV events). */
export interface CacheListener {
  /** Namespace `salt` now holds `ids` (from position 0), of which it held the first `from` before. */
  stored(salt: string, ids: ArrayLike<number>, from: number): void;
  /** Namespace `salt` no longer holds `path` (from position 0) past its first `from` tokens. */
  removed(salt: string, path: Int32Array, from: number): void;
  /** The tree holds nothing any more (a flush with no entry locked). */
  cleared(): void;
}

export class RadixCache implements PrefixCache {
  /** Namespace roots by salt; a root with no children is never kept. */
  private readonly roots = new Map<string, Node>();
  private nextId = 1;
  private clock = 0;
  private evictable = 0;
  private protectedTokens = 0;
  private hits = 0;
  private diskHits = 0;
  private queried = 0;
  private evicted = 0;
  version = 0;
  /** The salt of each namespace root, for the listener (roots are few and made rarely). */
  private readonly saltOf = new Map<Node, string>();
  /** Disk tier: tokens of disk-only nodes, and the nodes whose KV each stored item holds. */
  private diskTokens = 0;
  private readonly items = new Map<string, Set<Node>>();

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
    upper.hits = node.hits;
    upper.under = node.under;
    node.under -= at;
    if (node.disk) {
      upper.disk = node.disk;
      node.disk = { item: node.disk.item, from: node.disk.from + at };
      this.items.get(node.disk.item)?.add(upper);
    }
    parent.children.set(upper.key[0]!, upper);
    node.parent = upper;
    node.key = node.key.subarray(at);
    node.slots = node.slots.length > 0 ? node.slots.subarray(at) : node.slots;
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
      if (!child || !inPool(child)) break;
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
    const { node, pos } = this.walk(key.ids, key.salt, parts);
    const slots = concatSlots(parts);
    if (this.diskTokens === 0) return { slots, handle: node };
    const disk: DiskRun[] = [];
    this.followDisk(node, key.ids, pos, (n) => disk.push({ item: n.disk!.item, from: n.disk!.from, length: n.key.length }));
    return disk.length > 0 ? { slots, handle: node, disk } : { slots, handle: node };
  }

  /**
   * Walks the disk-only nodes below `node` along `ids` from `pos` (splitting where the ids
   * leave one mid-run), calling `visit` on each; returns the position reached.
   */
  private followDisk(node: Node, ids: ArrayLike<number>, pos: number, visit: (n: Node, at: number) => void): number {
    while (pos < ids.length) {
      const child = node.children.get(ids[pos]!);
      if (!child || inPool(child)) break;
      const n = commonPrefix(child.key, ids, pos);
      const next = n < child.key.length ? this.split(child, n) : child;
      next.lastAccess = this.clock;
      visit(next, pos);
      pos += n;
      node = next;
      if (n < child.key.length) break;
    }
    return pos;
  }

  insert(key: CacheKey, slots: Int32Array): InsertResult {
    const ids = key.ids;
    if (slots.length !== ids.length) throw new Error(`radix insert: ${ids.length} ids but ${slots.length} slots`);
    if (ids.length === 0) return { alreadyCached: 0, cached: 0 };
    const w = this.walk(ids, key.salt, null);
    const inPoolEnd = w.pos;
    // Disk-only nodes on the way take the caller's slots: their KV is in the pool again.
    let node = w.node;
    const pos = this.diskTokens === 0 ? inPoolEnd : this.followDisk(w.node, ids, inPoolEnd, (n, at) => {
      n.slots = slots.slice(at, at + n.key.length);
      this.diskTokens -= n.key.length;
      this.evictable += n.key.length;
      node = n;
    });
    if (pos === ids.length) {
      if (pos > inPoolEnd) {
        this.version++;
        this.listener?.stored(key.salt, ids, inPoolEnd);
      }
      return { alreadyCached: inPoolEnd, cached: pos };
    }
    const run = Int32Array.from({ length: ids.length - pos }, (_, i) => ids[pos + i]!);
    const leaf = new Node(this.nextId++, node, run, slots.slice(pos));
    leaf.lastAccess = this.clock;
    node.children.set(run[0]!, leaf);
    addUnder(node, run.length);
    this.evictable += run.length;
    this.version++;
    this.listener?.stored(key.salt, ids, inPoolEnd);
    return { alreadyCached: inPoolEnd, cached: ids.length };
  }

  lock(handle: CacheHandle): void {
    for (let n: Node | null = handle as Node; n && n.parent; n = n.parent) {
      if (n.lockRef === 0) {
        this.evictable -= n.key.length;
        this.protectedTokens += n.key.length;
      }
      n.lockRef++;
      n.hits++;
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

  /**
   * Drops unlocked pool-resident leaves (nodes with no pool-resident child) until `tokens`
   * are freed; `report`: tell the listener of each. With `keepDisk`, a leaf stored on disk
   * gives its slots back and stays, disk-only.
   */
  private dropUnlocked(tokens = Number.POSITIVE_INFINITY, report = true, keepDisk = true): Int32Array {
    // Candidates, oldest first. The tree is walked once; parents that become candidates as
    // their children go are merged into the sorted queue.
    const leaves: Node[] = [];
    const walk = (n: Node): void => {
      let inner = false;
      for (const c of n.children.values()) {
        if (!inPool(c)) continue;
        inner = true;
        walk(c);
      }
      if (!inner && n.parent && n.lockRef === 0) leaves.push(n);
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
      if (keepDisk && leaf.disk) {
        leaf.slots = new Int32Array(0);
        this.diskTokens += leaf.key.length;
      } else {
        this.removeSubtree(leaf);
      }
      if (parent.parent && parent.lockRef === 0 && ![...parent.children.values()].some(inPool)) heap.push(parent);
    }
    if (freed > 0) this.version++;
    this.dropEmptyRoots();
    return concatSlots(dropped);
  }

  /**
   * Namespaces left empty go (a request that matched nothing in one may still hold its root
   * as its handle: lock and unlock pass roots by, and an insert makes a new one).
   */
  private dropEmptyRoots(): void {
    for (const [salt, r] of this.roots) {
      if (r.children.size > 0) continue;
      this.roots.delete(salt);
      this.saltOf.delete(r);
    }
  }

  /** Detaches `node` with everything below it (disk-only: the pool part was freed by the caller). */
  private removeSubtree(node: Node, onDisk = false): void {
    addUnder(node.parent, -node.under);
    node.parent!.children.delete(node.key[0]!);
    node.parent = null;
    const stack = [node];
    for (let n = stack.pop(); n; n = stack.pop()) {
      if (n !== node || onDisk) this.diskTokens -= n.key.length;
      if (n.disk) {
        const set = this.items.get(n.disk.item);
        set?.delete(n);
        if (set && set.size === 0) this.items.delete(n.disk.item);
      }
      for (const c of n.children.values()) stack.push(c);
    }
  }

  /** Tells the listener that `leaf`, about to go, takes its run of its path with it. */
  private reportRemoved(listener: CacheListener, leaf: Node): void {
    const { path, root } = pathOf(leaf);
    listener.removed(this.saltOf.get(root)!, path, path.length - leaf.key.length);
  }

  flush(): Int32Array {
    // With nothing locked every entry goes: one "cleared" says it, instead of each removal.
    const all = this.protectedTokens === 0;
    const slots = this.dropUnlocked(Number.POSITIVE_INFINITY, !all, false);
    // What only the disk held is forgotten too (unlocked by nature).
    const stack = [...this.roots.values()];
    for (let n = stack.pop(); n; n = stack.pop()) {
      for (const c of [...n.children.values()]) {
        if (inPool(c)) stack.push(c);
        else this.removeSubtree(c, true);
      }
    }
    this.dropEmptyRoots();
    if (all) this.listener?.cleared();
    this.hits = 0;
    this.diskHits = 0;
    this.queried = 0;
    return slots;
  }

  recordQuery(queried: number, matched: number, fromDisk = 0): void {
    this.queried += queried;
    this.hits += matched;
    this.diskHits += fromDisk;
  }

  /** Every cached sequence, one per leaf (inspection: KV-event snapshots, tests). */
  sequences(): Generator<CachedSequence> {
    return sequencesOf(this.roots);
  }

  /** The stored items that hold the path `ids` of namespace `salt`; null unless all of it is stored. */
  pathItems(salt: string, ids: ArrayLike<number>): string[] | null {
    return pathItems(this.roots, salt, ids);
  }

  /** What the tree holds after the whole key, most recently used branch first (radix-walks.ts): speculative drafts. */
  continuation(key: CacheKey, max: number): number[] {
    const root = this.roots.get(key.salt);
    return root ? continuationOf(root, key.ids, max) : [];
  }

  /** A read-only picture of the largest part of the tree (radix-view.ts): the dashboard's. */
  view(opts: ViewOptions): RadixCacheView {
    return viewOf(this.roots, this.clock, opts);
  }

  /** Where the path of `key` runs in the tree (node ids, tokens matched), changing nothing. */
  locate(key: CacheKey): LocatedPath {
    return locate(this.roots.get(key.salt), key.ids);
  }

  /** Pool-resident runs a disk tier has yet to store (radix-walks.ts), least recently used first. */
  unsaved(max: number): UnsavedRun[] {
    return unsavedRuns(this.roots, this.saltOf, max);
  }

  /**
   * Tokens `start`.. of the path `ids` in namespace `salt` are stored as `item` (its token 0 is
   * position `start`): the pool-resident nodes wholly inside that range record it. Returns
   * how many tokens were marked (0 when the run left the pool meanwhile: the item is unused).
   */
  markOnDisk(salt: string, ids: ArrayLike<number>, start: number, item: string): number {
    let node = this.roots.get(salt);
    let depth = 0;
    let marked = 0;
    while (node && depth < ids.length) {
      const child: Node | undefined = node.children.get(ids[depth]!);
      if (!child || commonPrefix(child.key, ids, depth) < child.key.length) break;
      if (depth >= start && inPool(child) && !child.disk) {
        child.disk = { item, from: depth - start };
        if (!this.items.has(item)) this.items.set(item, new Set());
        this.items.get(item)!.add(child);
        marked += child.key.length;
      }
      depth += child.key.length;
      node = child;
    }
    return marked;
  }

  /**
   * A warm restart: tokens `start`.. of the path `ids` in namespace `salt` are stored as `item`;
   * the part the tree lacks becomes disk-only nodes. The tree must already hold the tokens
   * before `start` (the item's parent, adopted first). Returns the tokens added, 0 also when
   * that prefix is missing.
   */
  adoptDisk(salt: string, ids: ArrayLike<number>, start: number, item: string): number {
    if (start > 0 && !this.roots.has(salt)) return 0;
    let node = this.root(salt);
    let pos = 0;
    while (pos < ids.length) {
      const child = node.children.get(ids[pos]!);
      if (!child) break;
      const n = commonPrefix(child.key, ids, pos);
      node = n < child.key.length ? this.split(child, n) : child;
      pos += n;
      if (n < child.key.length) break;
    }
    if (pos < start || pos === ids.length) {
      this.dropEmptyRoots();
      return 0;
    }
    const run = Int32Array.from({ length: ids.length - pos }, (_, i) => ids[pos + i]!);
    const leaf = new Node(this.nextId++, node, run, new Int32Array(0));
    leaf.disk = { item, from: pos - start };
    node.children.set(run[0]!, leaf);
    addUnder(node, run.length);
    if (!this.items.has(item)) this.items.set(item, new Set());
    this.items.get(item)!.add(leaf);
    this.diskTokens += run.length;
    this.version++;
    return run.length;
  }

  /** The store dropped `item`: nodes only it held go; pool-resident ones just lose their copy. */
  forgetItem(item: string): void {
    const set = this.items.get(item);
    if (!set) return;
    this.items.delete(item);
    for (const n of [...set]) {
      n.disk = null;
      if (!inPool(n) && n.parent) this.removeSubtree(n, true);
    }
    this.dropEmptyRoots();
    this.version++;
  }

  stats(): CacheStats {
    return {
      cachedTokens: this.evictable + this.protectedTokens,
      evictableTokens: this.evictable,
      protectedTokens: this.protectedTokens,
      hitTokens: this.hits,
      diskHitTokens: this.diskHits,
      queriedTokens: this.queried,
      evictedTokens: this.evicted,
      namespaces: this.roots.size,
      diskTokens: this.diskTokens,
    };
  }
}
