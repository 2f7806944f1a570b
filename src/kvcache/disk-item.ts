// What the disk store keeps beside each payload: the caller's metadata, as JSON or raw bytes
// (the record's flag bit 0 says which; disk-segment.ts has the record format).
import { FLAG_JSON_META } from "./disk-segment.js";

/** What a caller stores next to a payload: a small JSON-able record, or bytes of its own format. */
export type DiskMeta = Readonly<Record<string, unknown>> | Uint8Array;

export interface DiskItem {
  readonly meta: DiskMeta;
  /** Concurrent gets of one key share one read, and so this buffer: read it, do not write it. */
  readonly payload: Buffer;
}

export function encodeMeta(meta: DiskMeta): { flags: number; bytes: Buffer } {
  if (meta instanceof Uint8Array) return { flags: 0, bytes: Buffer.from(meta) };
  return { flags: FLAG_JSON_META, bytes: Buffer.from(JSON.stringify(meta), "utf8") };
}

export function decodeMeta(flags: number, bytes: Buffer): DiskMeta {
  return flags & FLAG_JSON_META ? (JSON.parse(bytes.toString("utf8")) as Record<string, unknown>) : new Uint8Array(bytes);
}
