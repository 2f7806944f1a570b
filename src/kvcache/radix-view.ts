// A read-only picture of the radix tree (radix-cache.ts) for the dashboard: plain records of
// the nodes with the most tokens under them, each with its parent, its run's size, its last
// use, its uses and its state. The picture is taken best first from the namespace roots (a
// node has at least as many tokens under it as any child), so it always holds a connected top
// of the tree and costs O(shown nodes and their children), however large the tree. Nothing is
// split, touched or counted: the tree is the same after a view as before it.
import { MinHeap } from "../util/min-heap.js";
import { commonPrefix, inPool, type Node } from "./radix-node.js";

/** Where a node's KV is: locked by a running request (or a pin), in the pool and evictable, or only on disk. */
export type NodeState = "root" | "locked" | "evictable" | "disk";

export interface ViewNode {
  readonly id: number;
  /** The parent's id; 0 for a namespace root. */
  readonly parent: number;
  /** Tokens of its own run. */
  readonly tokens: number;
  /** Tokens of its run and every run below it. */
  readonly under: number;
  /** Its position: tokens above it on its path. */
  readonly depth: number;
  /** The tree's clock when it was last used (RadixCacheView.clock is now). */
  readonly lastAccess: number;
  /** Times a request or a pin locked it. */
  readonly hits: number;
  readonly state: NodeState;
  /** Children it has beyond the ones in the view. */
  readonly hiddenChildren: number;
  /** The first `textTokens` ids of its run (for its text). */
  readonly head: Int32Array;
}

export interface NamespaceView {
  /** The cache salt ("" for the shared namespace). */
  readonly salt: string;
  readonly rootId: number;
  readonly tokens: number;
}

export interface RadixCacheView {
  /** The tree's own clock: what ViewNode.lastAccess counts in. */
  readonly clock: number;
  /** Namespaces the view holds (those `include` let through), largest first. */
  readonly namespaces: readonly NamespaceView[];
  /** Namespaces left out by `include`. */
  readonly hiddenNamespaces: number;
  /** Parents before children. */
  readonly nodes: readonly ViewNode[];
  /** Tokens in the namespaces shown, and in the nodes shown. */
  readonly totalTokens: number;
  readonly shownTokens: number;
  /** Nodes were left out for `maxNodes`. */
  readonly truncated: boolean;
}

export interface ViewOptions {
  /** Most nodes in the view (namespace roots count). */
  readonly maxNodes: number;
  /** Ids of each run kept for its text. */
  readonly textTokens: number;
  /** Which namespaces to show, by salt; default all. */
  readonly include?: (salt: string) => boolean;
}

function stateOf(n: Node): NodeState {
  if (!n.parent) return "root";
  if (!inPool(n)) return "disk";
  return n.lockRef > 0 ? "locked" : "evictable";
}

/** The view of the namespaces `roots` (salt -> root) at clock `clock`. */
export function viewOf(roots: ReadonlyMap<string, Node>, clock: number, opts: ViewOptions): RadixCacheView {
  const heap = new MinHeap<{ node: Node; depth: number }>((a, b) => b.node.under - a.node.under || a.node.id - b.node.id);
  const namespaces: NamespaceView[] = [];
  let hidden = 0;
  let totalTokens = 0;
  for (const [salt, root] of roots) {
    if (opts.include && !opts.include(salt)) {
      hidden++;
      continue;
    }
    namespaces.push({ salt, rootId: root.id, tokens: root.under });
    totalTokens += root.under;
    heap.push({ node: root, depth: 0 });
  }
  namespaces.sort((a, b) => b.tokens - a.tokens || a.rootId - b.rootId);
  const picked: { node: Node; depth: number }[] = [];
  const shown = new Set<number>();
  let shownTokens = 0;
  while (picked.length < opts.maxNodes) {
    const top = heap.pop();
    if (!top) break;
    const n = top.node;
    picked.push(top);
    shown.add(n.id);
    shownTokens += n.key.length;
    for (const c of n.children.values()) heap.push({ node: c, depth: top.depth + n.key.length });
  }
  const nodes = picked.map(({ node: n, depth }): ViewNode => {
    let hiddenChildren = 0;
    if (heap.size > 0) for (const c of n.children.values()) if (!shown.has(c.id)) hiddenChildren++;
    return {
      id: n.id, parent: n.parent ? n.parent.id : 0, tokens: n.key.length, under: n.under, depth,
      lastAccess: n.lastAccess, hits: n.hits, state: stateOf(n), hiddenChildren,
      head: n.key.subarray(0, Math.min(n.key.length, opts.textTokens)),
    };
  });
  return { clock, namespaces, hiddenNamespaces: hidden, totalTokens, shownTokens, truncated: heap.size > 0, nodes };
}

/** Where the path `ids` of one namespace runs in the tree: the ids of its nodes, top first, and the tokens it matches. */
export interface LocatedPath {
  readonly nodeIds: readonly number[];
  readonly matched: number;
}

/** Follows `ids` from `root` without changing anything; the last node may be matched only in part. */
export function locate(root: Node | undefined, ids: ArrayLike<number>): LocatedPath {
  const nodeIds: number[] = [];
  let node = root;
  let pos = 0;
  while (node && pos < ids.length) {
    const child: Node | undefined = node.children.get(ids[pos]!);
    if (!child) break;
    const n = commonPrefix(child.key, ids, pos);
    nodeIds.push(child.id);
    pos += n;
    if (n < child.key.length) break;
    node = child;
  }
  return { nodeIds, matched: pos };
}
