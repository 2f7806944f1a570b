// Read-only walks over the radix tree's namespaces (radix-cache.ts): the cached sequences
// (KV-event snapshots, tests) and the runs a disk tier has yet to store.
import { commonPrefix, inPool, type Node, pathOf } from "./radix-node.js";
import type { CacheHandle } from "./prefix-cache.js";

/** One cached sequence: a leaf's whole path from its namespace root. */
export interface CachedSequence {
  readonly salt: string;
  readonly ids: Int32Array;
}

/** A pool-resident run to store: tokens `start`.. of the path `ids`, its slots, and where its parent is stored. */
export interface UnsavedRun {
  readonly handle: CacheHandle;
  readonly salt: string;
  readonly ids: Int32Array;
  readonly start: number;
  readonly slots: Int32Array;
  /** The stored item holding the tokens just before `start`; null at a namespace root. */
  readonly parentItem: string | null;
}

/** Every cached sequence in the pool's part of the tree, one per leaf. */
export function* sequencesOf(roots: ReadonlyMap<string, Node>): Generator<CachedSequence> {
  for (const [salt, root] of roots) {
    const stack: { node: Node; path: Int32Array }[] = [{ node: root, path: root.key }];
    for (let top = stack.pop(); top; top = stack.pop()) {
      // Disk-only nodes hold no KV in the pool.
      if (![...top.node.children.values()].some(inPool)) {
        if (top.node.parent) yield { salt, ids: top.path };
        continue;
      }
      for (const c of top.node.children.values()) {
        if (!inPool(c)) continue;
        const path = new Int32Array(top.path.length + c.key.length);
        path.set(top.path);
        path.set(c.key, top.path.length);
        stack.push({ node: c, path });
      }
    }
  }
}

/**
 * Pool-resident runs not stored yet whose parent is (or is a root), least recently used first:
 * a run is stored only after the one before it, so that every stored item names a stored parent
 * and a restart can rebuild each item's path from the store alone.
 */
export function unsavedRuns(roots: ReadonlyMap<string, Node>, saltOf: ReadonlyMap<Node, string>, max: number): UnsavedRun[] {
  const found: Node[] = [];
  const stack = [...roots.values()];
  for (let n = stack.pop(); n; n = stack.pop()) {
    for (const c of n.children.values()) {
      if (!inPool(c)) continue;
      if (!c.disk) found.push(c);
      else stack.push(c);
    }
  }
  found.sort((a, b) => a.lastAccess - b.lastAccess || a.id - b.id);
  return found.slice(0, max).map((node) => {
    const { path, root } = pathOf(node);
    const p = node.parent!;
    return {
      handle: node, salt: saltOf.get(root)!, ids: path, start: path.length - node.key.length, slots: node.slots,
      parentItem: p.parent && p.disk ? p.disk.item : null,
    };
  });
}

/**
 * The stored items that hold the path `ids` in namespace `salt`, in path order; null when the
 * tree does not hold all of it or a node on it is not stored.
 */
export function pathItems(roots: ReadonlyMap<string, Node>, salt: string, ids: ArrayLike<number>): string[] | null {
  let node = roots.get(salt);
  let pos = 0;
  const items: string[] = [];
  while (node && pos < ids.length) {
    const child: Node | undefined = node.children.get(ids[pos]!);
    if (!child?.disk) return null;
    const n = Math.min(child.key.length, ids.length - pos);
    for (let i = 0; i < n; i++) if (child.key[i] !== ids[pos + i]) return null;
    if (items[items.length - 1] !== child.disk.item) items.push(child.disk.item);
    pos += n;
    node = child;
  }
  return node && pos === ids.length ? items : null;
}

/**
 * The tokens the tree holds after the whole of `ids` (which must end on the path, at a node's
 * end or inside its run), following the most recently used child at each fork; at most `max`.
 * Reads only: no split, no touch. Speculative decoding drafts from it.
 */
export function continuationOf(root: Node, ids: ArrayLike<number>, max: number): number[] {
  let node = root;
  let off = 0;
  let pos = 0;
  while (pos < ids.length) {
    const child = node.children.get(ids[pos]!);
    if (!child) return [];
    const n = commonPrefix(child.key, ids, pos);
    pos += n;
    node = child;
    off = n;
    if (n < child.key.length && pos < ids.length) return [];
  }
  const out: number[] = [];
  for (;;) {
    for (let i = off; i < node.key.length && out.length < max; i++) out.push(node.key[i]!);
    if (out.length >= max) return out;
    let next: Node | null = null;
    for (const c of node.children.values()) if (!next || c.lastAccess > next.lastAccess) next = c;
    if (!next) return out;
    node = next;
    off = 0;
  }
}
