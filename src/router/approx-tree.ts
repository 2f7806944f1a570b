// The router's picture of what each worker has cached, as SGLang's router keeps it: one radix
// tree over the requests sent (as text code points, or token ids when the router has the
// tokenizer), each node marked with the workers ("tenants") that were sent a request through
// it and when. It is an approximation: a worker may have evicted what the tree says it holds.
// Each tenant's share is trimmed to a size bound by dropping its least recently used leaves.
import { MinHeap } from "../util/min-heap.js";

interface Node {
  /** The run of keys on the edge into this node. */
  run: number[];
  readonly children: Map<number, Node>;
  parent: Node | null;
  /** Tenant -> last time a request through this node went to it. */
  readonly tenants: Map<string, number>;
}

function newNode(run: number[], parent: Node | null): Node {
  return { run, children: new Map(), parent, tenants: new Map() };
}

export interface TreeMatch {
  /** Keys of the query matched by the deepest node some tenant holds. */
  readonly matched: number;
  /** The tenant at that node that was used most recently (null: nothing matched). */
  readonly tenant: string | null;
}

export class ApproxTree {
  private readonly root = newNode([], null);
  /** Keys each tenant holds (the sum of its nodes' run lengths). */
  private readonly sizes = new Map<string, number>();
  private clock = 0;

  /** `now` gives the time marks (a counter by default, so tests are exact). */
  constructor(private readonly now: () => number = () => ++this.clock) {}

  /** Records that `tenant` was sent `keys`: every node on its path is marked with it. */
  insert(keys: ArrayLike<number>, tenant: string): void {
    const t = this.now();
    if (!this.sizes.has(tenant)) this.sizes.set(tenant, 0);
    let node = this.root;
    node.tenants.set(tenant, t);
    let i = 0;
    while (i < keys.length) {
      const child = node.children.get(keys[i]!);
      if (!child) {
        const leaf = newNode(Array.from({ length: keys.length - i }, (_, k) => keys[i + k]!), node);
        node.children.set(keys[i]!, leaf);
        this.mark(leaf, tenant, t);
        return;
      }
      const common = commonPrefix(child.run, keys, i);
      const next = common < child.run.length ? this.split(child, common) : child;
      this.mark(next, tenant, t);
      node = next;
      i += common;
    }
  }

  private mark(node: Node, tenant: string, t: number): void {
    if (!node.tenants.has(tenant)) this.sizes.set(tenant, (this.sizes.get(tenant) ?? 0) + node.run.length);
    node.tenants.set(tenant, t);
  }

  /** Cuts `node`'s run after `at` keys: the first part becomes a new parent holding the same tenants. */
  private split(node: Node, at: number): Node {
    const parent = node.parent!;
    const head = newNode(node.run.slice(0, at), parent);
    for (const [k, v] of node.tenants) head.tenants.set(k, v);
    parent.children.set(head.run[0]!, head);
    node.run = node.run.slice(at);
    node.parent = head;
    head.children.set(node.run[0]!, node);
    return head;
  }

  /**
   * The longest prefix of `keys` that the tree holds, and the most recently used tenant at its
   * end. `among` limits the tenants considered (the workers that may take the request now).
   */
  match(keys: ArrayLike<number>, among?: ReadonlySet<string>): TreeMatch {
    let node = this.root;
    let i = 0;
    let best: TreeMatch = { matched: 0, tenant: newest(node, among) };
    while (i < keys.length) {
      const child = node.children.get(keys[i]!);
      if (!child) break;
      const common = commonPrefix(child.run, keys, i);
      const tenant = newest(child, among);
      if (tenant === null) break;
      i += common;
      best = { matched: i, tenant };
      if (common < child.run.length) break;
      node = child;
    }
    return best;
  }

  /** How many leading keys of `keys` the tree holds for `tenant`. */
  matchFor(keys: ArrayLike<number>, tenant: string): number {
    let node = this.root;
    let i = 0;
    while (i < keys.length) {
      const child = node.children.get(keys[i]!);
      if (!child || !child.tenants.has(tenant)) break;
      const common = commonPrefix(child.run, keys, i);
      i += common;
      if (common < child.run.length) break;
      node = child;
    }
    return i;
  }

  /** Keys held for `tenant`. */
  size(tenant: string): number {
    return this.sizes.get(tenant) ?? 0;
  }

  /** Of `tenants`, the one holding the fewest keys (ties: the first). */
  smallest(tenants: readonly string[]): string | null {
    let best: string | null = null;
    for (const t of tenants) if (best === null || this.size(t) < this.size(best)) best = t;
    return best;
  }

  /** Forgets a tenant (a worker removed): its marks go, and nodes no tenant holds are dropped. */
  removeTenant(tenant: string): void {
    const walk = (node: Node): void => {
      for (const child of [...node.children.values()]) walk(child);
      node.tenants.delete(tenant);
      if (node !== this.root && node.tenants.size === 0) node.parent!.children.delete(node.run[0]!);
    };
    walk(this.root);
    this.sizes.delete(tenant);
  }

  /** Trims every tenant to at most `max` keys, least recently used leaves first. */
  trim(max: number): void {
    for (const [tenant, size] of this.sizes) {
      if (size <= max) continue;
      // The tenant's leaves: nodes it holds with no child it holds; dropping one may make its parent a leaf.
      const leaves: Node[] = [];
      const collect = (node: Node): void => {
        let holdsChild = false;
        for (const c of node.children.values()) {
          if (!c.tenants.has(tenant)) continue;
          holdsChild = true;
          collect(c);
        }
        if (!holdsChild && node !== this.root && node.tenants.has(tenant)) leaves.push(node);
      };
      collect(this.root);
      const heap = new MinHeap<Node>((a, b) => a.tenants.get(tenant)! - b.tenants.get(tenant)!);
      for (const l of leaves) heap.push(l);
      let left = size;
      while (left > max && heap.size > 0) {
        const node = heap.pop()!;
        node.tenants.delete(tenant);
        left -= node.run.length;
        const parent = node.parent!;
        if (node.tenants.size === 0) parent.children.delete(node.run[0]!);
        if (parent !== this.root && parent.tenants.has(tenant) && ![...parent.children.values()].some((c) => c.tenants.has(tenant))) heap.push(parent);
      }
      this.sizes.set(tenant, left);
    }
  }
}

function commonPrefix(run: readonly number[], keys: ArrayLike<number>, from: number): number {
  const n = Math.min(run.length, keys.length - from);
  let i = 0;
  while (i < n && run[i] === keys[from + i]) i++;
  return i;
}

function newest(node: Node, among: ReadonlySet<string> | undefined): string | null {
  let best: string | null = null;
  let t = -Infinity;
  for (const [tenant, at] of node.tenants) {
    if (among && !among.has(tenant)) continue;
    if (at > t) {
      best = tenant;
      t = at;
    }
  }
  return best;
}
