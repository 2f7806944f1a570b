// Small side files of the disk store (the radix tree's structure for a warm restart), written
// whole and atomically: a temp file, fsync, rename over the old one, fsync of the directory.
// A reader sees the old file or the new one, never a mix. Each carries the fingerprint and a
// crc32, so a manifest of another model or a damaged one reads as absent.
//
//   offset size  field (little-endian)
//        0    4  magic "RLMF"
//        4    2  format version (1)
//        6    2  reserved (0)
//        8    8  fingerprint hash (disk-segment.ts)
//       16    4  body length
//       20    4  crc32 of bytes 0..20 and the body
//       24       body
import { open, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";

const MAGIC = Buffer.from("RLMF", "latin1");
const VERSION = 1;
const HEAD = 24;
const NAME_RE = /^[A-Za-z0-9._-]{1,100}$/;
/** Temp files a crash mid-write leaves behind; the store removes them at open. */
export const MANIFEST_TEMP_RE = /\.manifest\.tmp-\d+-\d+$/;
let tempSeq = 0;

function manifestPath(dir: string, name: string): string {
  if (!NAME_RE.test(name)) throw new Error(`disk store: manifest name ${JSON.stringify(name)} is not a plain file name`);
  return join(dir, `${name}.manifest`);
}

/** Fsyncs a directory, so that a rename or a new file in it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function writeManifestFile(dir: string, name: string, fpHash: Buffer, body: Uint8Array): Promise<void> {
  const path = manifestPath(dir, name);
  const head = Buffer.alloc(HEAD);
  MAGIC.copy(head, 0);
  head.writeUInt16LE(VERSION, 4);
  head.set(fpHash.subarray(0, 8), 8);
  head.writeUInt32LE(body.length, 16);
  head.writeUInt32LE(crc32(body, crc32(head.subarray(0, 20))), 20);
  const temp = `${path}.tmp-${process.pid}-${tempSeq++}`;
  const fh = await open(temp, "w");
  try {
    await fh.writev([head, body]);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw new Error(`disk store: writing manifest ${name} failed: ${(err as Error).message}`, { cause: err });
  }
  await fh.close();
  await rename(temp, path);
  await syncDir(dir);
}

/** The body last written under `name`, or null: none written (silently), or one that fails its checks (with a warning). */
export async function readManifestFile(dir: string, name: string, fpHash: Buffer, warn: (line: string) => void): Promise<Buffer | null> {
  let file: Buffer;
  try {
    file = await readFile(manifestPath(dir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const bad = (why: string): null => {
    warn(`disk store: manifest ${name} ${why}; ignored`);
    return null;
  };
  if (file.length < HEAD || !file.subarray(0, 4).equals(MAGIC) || file.readUInt16LE(4) !== VERSION) return bad("is not a manifest of this format");
  const body = file.subarray(HEAD);
  if (file.readUInt32LE(16) !== body.length || crc32(body, crc32(file.subarray(0, 20))) !== file.readUInt32LE(20)) {
    return bad("failed its checksum (truncated or damaged)");
  }
  if (!file.subarray(8, 16).equals(fpHash)) return bad("was written for another fingerprint (model, KV dtype or layout changed)");
  return body;
}
