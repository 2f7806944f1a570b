// The record format of the disk store's segment files (disk-store.ts), and the scan that
// finds the records of a segment again at open. A segment is a plain run of records, no file
// header: a record names itself (magic, fingerprint), so a scan needs nothing but the bytes.
//
//   offset size  field (little-endian)
//        0    4  magic "RLKV"
//        4    2  format version (1)
//        6    2  flags (bit 0: the metadata is UTF-8 JSON, else raw bytes; bit 1: dead, see below)
//        8    8  fingerprint hash: the first 8 bytes of sha256(fingerprint)
//       16    4  key length (UTF-8 bytes)
//       20    4  metadata length
//       24    4  payload length
//       28    4  payload crc32
//       32    4  reserved (0)
//       36    4  head crc32: bytes 0..36, then key and metadata
//       40       key, metadata, payload
//
// A deleted item's record is marked dead in place (its head rewritten with bit 1 set), so that
// a delete outlasts a restart: a scan indexes no dead record and drops the key's older copies.
//
// The head crc covers the payload crc, so one record's header and payload are both checked;
// a scan checks heads only (a restart reads kilobytes, not the whole cache) and every get
// checks its payload. crc32 (node:zlib) runs at ~3.8 GB/s here against sha256's ~1.6, and a
// cache guards against torn writes and flipped bits, not against an adversary.
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { crc32 } from "node:zlib";

export const HEADER_BYTES = 40;
export const MAX_KEY_BYTES = 4096;
export const MAX_META_BYTES = 1 << 20;
export const FLAG_JSON_META = 1;
export const FLAG_DEAD = 2;
const MAGIC = Buffer.from("RLKV", "latin1");
const VERSION = 1;
/** What one scan read fetches: a head, its key and metadata, in one read for usual sizes. */
const SCAN_READ = 4096;
/** Payloads are checksummed in slices, yielding between them, so a 16 MiB item never holds the event loop for more than ~0.5 ms. */
const CRC_SLICE = 2 << 20;

/** The 8 bytes of a fingerprint that every record carries. */
export function fingerprintHash(fingerprint: string): Buffer {
  return createHash("sha256").update(fingerprint, "utf8").digest().subarray(0, 8);
}

/** crc32 of `buf`, a slice at a time with the event loop let in between. */
export async function crc32Sliced(buf: Uint8Array): Promise<number> {
  let crc = 0;
  for (let off = 0; off < buf.length; off += CRC_SLICE) {
    if (off > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    crc = crc32(buf.subarray(off, off + CRC_SLICE), crc);
  }
  return crc;
}

/** What precedes a payload on disk: the 40-byte header, the key and the metadata, head crc filled in. */
export function encodeHead(fpHash: Uint8Array, key: Uint8Array, meta: Uint8Array, flags: number, payloadLen: number, payloadCrc: number): Buffer {
  const head = Buffer.alloc(HEADER_BYTES + key.length + meta.length);
  MAGIC.copy(head, 0);
  head.writeUInt16LE(VERSION, 4);
  head.writeUInt16LE(flags, 6);
  head.set(fpHash.subarray(0, 8), 8);
  head.writeUInt32LE(key.length, 16);
  head.writeUInt32LE(meta.length, 20);
  head.writeUInt32LE(payloadLen, 24);
  head.writeUInt32LE(payloadCrc >>> 0, 28);
  head.set(key, HEADER_BYTES);
  head.set(meta, HEADER_BYTES + key.length);
  head.writeUInt32LE(headCrc(head), 36);
  return head;
}

function headCrc(head: Buffer): number {
  return crc32(head.subarray(HEADER_BYTES), crc32(head.subarray(0, 36)));
}

/** One record a scan found whole, with a head that passed its checksum. */
export interface ScannedRecord {
  readonly offset: number;
  readonly key: string;
  readonly flags: number;
  readonly meta: Buffer;
  readonly payloadLen: number;
  readonly payloadCrc: number;
  /** Head, key, metadata and payload: the bytes the record takes in the file. */
  readonly recordBytes: number;
  /** Written under another fingerprint (another model, KV dtype or layout). */
  readonly foreign: boolean;
}

export interface ScanResult {
  readonly records: ScannedRecord[];
  /** Stretches of bytes between good records that hold no readable record (a flipped bit in a head). */
  readonly damaged: number;
  readonly damagedBytes: number;
  /** Where the last good record ends; bytes past it hold no good record (an unfinished write). */
  readonly validEnd: number;
}

/** Reads `len` bytes at `pos` in full (a read may return fewer than asked). */
export async function readFully(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, pos + done);
    if (bytesRead === 0) throw new Error(`short read: ${done} of ${buf.length} bytes at ${pos}`);
    done += bytesRead;
  }
}

/** The record at `pos` if a whole one with a good head lies there, else null. */
async function recordAt(fh: FileHandle, pos: number, size: number, fpHash: Buffer): Promise<ScannedRecord | null> {
  if (size - pos < HEADER_BYTES) return null;
  let buf = Buffer.allocUnsafe(Math.min(SCAN_READ, size - pos));
  await readFully(fh, buf, pos);
  if (!buf.subarray(0, 4).equals(MAGIC) || buf.readUInt16LE(4) !== VERSION) return null;
  const keyLen = buf.readUInt32LE(16);
  const metaLen = buf.readUInt32LE(20);
  const payloadLen = buf.readUInt32LE(24);
  // lengths are checked before the crc, so a damaged length never makes the scan allocate gigabytes
  if (keyLen === 0 || keyLen > MAX_KEY_BYTES || metaLen > MAX_META_BYTES) return null;
  const headLen = HEADER_BYTES + keyLen + metaLen;
  if (pos + headLen + payloadLen > size) return null;
  if (headLen > buf.length) {
    buf = Buffer.allocUnsafe(headLen);
    await readFully(fh, buf, pos);
  }
  const head = buf.subarray(0, headLen);
  if (headCrc(head) !== head.readUInt32LE(36)) return null;
  return {
    offset: pos,
    key: head.toString("utf8", HEADER_BYTES, HEADER_BYTES + keyLen),
    flags: head.readUInt16LE(6),
    meta: Buffer.from(head.subarray(HEADER_BYTES + keyLen)),
    payloadLen,
    payloadCrc: head.readUInt32LE(28),
    recordBytes: headLen + payloadLen,
    foreign: !head.subarray(8, 16).equals(fpHash),
  };
}

/** The offset of the first good record at or after `from`, or -1: how a scan gets past a damaged head. */
async function nextRecord(fh: FileHandle, from: number, size: number, fpHash: Buffer): Promise<number> {
  const chunk = Buffer.allocUnsafe(1 << 20);
  for (let base = from; base < size - 3; base += chunk.length - 3) {
    const n = Math.min(chunk.length, size - base);
    await readFully(fh, chunk.subarray(0, n), base);
    const view = chunk.subarray(0, n);
    for (let i = view.indexOf(MAGIC); i !== -1; i = view.indexOf(MAGIC, i + 1)) {
      if (await recordAt(fh, base + i, size, fpHash)) return base + i;
    }
  }
  return -1;
}

/** Every good record of a segment file of `size` bytes, in file order. */
export async function scanSegment(fh: FileHandle, size: number, fpHash: Buffer): Promise<ScanResult> {
  const records: ScannedRecord[] = [];
  let damaged = 0;
  let damagedBytes = 0;
  let validEnd = 0;
  let pos = 0;
  while (pos < size) {
    const rec = await recordAt(fh, pos, size, fpHash);
    if (rec) {
      records.push(rec);
      pos += rec.recordBytes;
      validEnd = pos;
      continue;
    }
    const next = await nextRecord(fh, pos + 1, size, fpHash);
    if (next === -1) break;
    damaged++;
    damagedBytes += next - pos;
    pos = next;
  }
  return { records, damaged, damagedBytes, validEnd };
}
