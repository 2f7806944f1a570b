// The disk tier's items as stored: one radix node's run of KV under a key that names its
// content (the namespace salt and every token of its path), with metadata that says where it
// sits in the tree (its own tokens and the item before it), so that the tree can be rebuilt
// from the store alone after a restart: no separate manifest to fall out of step with it.
import { createHash } from "node:crypto";
import type { DiskMeta } from "../kvcache/disk-store.js";

/** The layout of an item's payload (token-major, as the runners' exportKv writes it). */
export const KV_LAYOUT_VERSION = "kv1";

/** An item's key: the hash of its salt and path, and where its run starts. */
export function itemKey(salt: string, ids: ArrayLike<number>, start: number, end: number): string {
  const h = createHash("sha256").update(salt).update("\u0000");
  h.update(Buffer.from(Int32Array.from({ length: end }, (_, i) => ids[i]!).buffer));
  return `${h.digest("hex").slice(0, 40)}-${start}`;
}

/** Metadata of the item holding tokens `start`.. of `ids`, whose tokens before are in `parent`. */
export function itemMeta(salt: string, ids: Int32Array, start: number, parent: string | null): DiskMeta {
  const own = ids.slice(start);
  return { v: 1, salt, start, tokens: own.length, ids: Buffer.from(own.buffer).toString("base64"), parent };
}

/** A stored item placed in its tree: its namespace, whole path, and where its run starts. */
export interface PlacedItem {
  readonly key: string;
  readonly salt: string;
  readonly ids: Int32Array;
  readonly start: number;
}

interface Parsed {
  readonly salt: string;
  readonly start: number;
  readonly own: Int32Array;
  readonly parent: string | null;
}

function parse(meta: DiskMeta): Parsed | null {
  if (meta instanceof Uint8Array || meta.v !== 1) return null;
  const { salt, start, ids, parent } = meta;
  if (typeof salt !== "string" || typeof ids !== "string" || !Number.isSafeInteger(start) || (start as number) < 0) return null;
  if (parent !== null && typeof parent !== "string") return null;
  if ((start as number) === 0 ? parent !== null : parent === null) return null;
  const bytes = Buffer.from(ids, "base64");
  if (bytes.length === 0 || bytes.length % 4 !== 0) return null;
  const own = new Int32Array(bytes.length / 4);
  Buffer.from(own.buffer).set(bytes);
  return { salt, start: start as number, own, parent: parent as string | null };
}

/**
 * The items of `metas` in an order where each comes after its parent, each with its whole
 * path; and the keys that cannot be placed: unreadable metadata, a missing parent, a path that
 * does not hash to the key, or an item of another tree layout.
 */
export function placeItems(metas: Iterable<[string, DiskMeta]>): { placed: PlacedItem[]; unusable: string[] } {
  const parsed = new Map<string, Parsed>();
  const unusable: string[] = [];
  for (const [key, meta] of metas) {
    const p = parse(meta);
    if (p) parsed.set(key, p);
    else unusable.push(key);
  }
  // Parents start before their children: in start order, a parent is placed first.
  const order = [...parsed.entries()].sort((a, b) => a[1].start - b[1].start);
  const paths = new Map<string, PlacedItem>();
  const placed: PlacedItem[] = [];
  for (const [key, p] of order) {
    let prefix: Int32Array = new Int32Array(0);
    if (p.parent !== null) {
      const parent = paths.get(p.parent);
      if (!parent || parent.salt !== p.salt || parent.ids.length < p.start) {
        unusable.push(key);
        continue;
      }
      prefix = parent.ids.subarray(0, p.start);
    }
    const ids = new Int32Array(p.start + p.own.length);
    ids.set(prefix);
    ids.set(p.own, p.start);
    if (itemKey(p.salt, ids, p.start, ids.length) !== key) {
      unusable.push(key);
      continue;
    }
    const item = { key, salt: p.salt, ids, start: p.start };
    paths.set(key, item);
    placed.push(item);
  }
  return { placed, unusable };
}
