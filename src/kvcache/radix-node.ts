// The radix tree's node: a token run, its KV slots (none while only the disk holds it), its
// children by first token, its lock count and last use; for the dashboard's view
// (radix-view.ts), its uses and the tokens under it.
import type { CacheHandle } from "./prefix-cache.js";

export class Node implements CacheHandle {
  readonly children = new Map<number, Node>();
  lockRef = 0;
  lastAccess = 0;
  /** Where its KV is stored on disk: tokens `from`.. of `item`; null when it is not. */
  disk: { readonly item: string; readonly from: number } | null = null;
  /** Times a lock passed through it: a request (or a pin) used its KV. */
  hits = 0;
  /** Tokens of its run and of every run below it (in the pool or only on disk). */
  under: number;
  constructor(
    readonly id: number,
    public parent: Node | null,
    public key: Int32Array,
    public slots: Int32Array,
  ) {
    this.under = key.length;
  }
}

/** `node` and each node above it hold `delta` more tokens under them. */
export function addUnder(node: Node | null, delta: number): void {
  for (let n = node; n; n = n.parent) n.under += delta;
}

/** Its KV is in the pool (a disk-only node has no slots). */
export const inPool = (n: Node): boolean => n.slots.length === n.key.length;

export function commonPrefix(a: Int32Array, b: ArrayLike<number>, bStart: number): number {
  const n = Math.min(a.length, b.length - bStart);
  let i = 0;
  while (i < n && a[i] === b[bStart + i]) i++;
  return i;
}

/** What a match in a namespace with no entries ends at: no parent, so lock and unlock pass it by. */
export const EMPTY_NAMESPACE = new Node(0, null, new Int32Array(0), new Int32Array(0));

/** A node's whole path from its namespace root (the ids), and that root. */
export function pathOf(node: Node): { path: Int32Array; root: Node } {
  let depth = 0;
  let root = node;
  for (let n: Node | null = node; n; n = n.parent) {
    depth += n.key.length;
    root = n;
  }
  const path = new Int32Array(depth);
  let end = depth;
  for (let n: Node | null = node; n && n.parent; n = n.parent) {
    end -= n.key.length;
    path.set(n.key, end);
  }
  return { path, root };
}
