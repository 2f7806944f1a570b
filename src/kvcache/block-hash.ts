// Block hashes of a token sequence, as vLLM's prefix cache names its blocks with
// `--prefix-caching-hash-algo sha256_cbor` and as llm-d's KV-cache indexer recomputes them
// from a prompt with `hashAlgorithm: sha256_cbor` (llm-d-kv-cache, pkg/kvcache/kvblock/
// token_processor.go), so that the keys in our KV events are the keys llm-d looks up.
//
// The sequence is cut into blocks of `blockSize` tokens from position 0; a partial block at
// the end has no hash (vLLM caches and publishes full blocks only). Each block's digest is
//
//   sha256(canonical CBOR of [parent digest (32-byte string), [token ids], extra keys])
//
// chained from the block before; the first block's parent is NONE_HASH =
// sha256(CBOR text string of the seed), vLLM's init_none_hash with PYTHONHASHSEED = seed
// (vllm/v1/core/kv_cache_utils.py) and llm-d's hashSeed. The extra keys are CBOR null, except
// for a cache_salt namespace, whose first block carries the one-element array [salt], as
// vLLM's _gen_extra_keys puts cache_salt into the extra keys of the block at position 0.
// A block's published 64-bit hash is the digest's last 8 bytes read big-endian (vLLM's
// maybe_convert_block_hash, llm-d's getHashAsUint64).
//
// SHA-256 rather than llm-d's FNV-64a default because its FNV chain starts from the model
// name, which llm-d takes from the event topic and which a worker does not always know as
// llm-d spells it; sha256_cbor is the one scheme vLLM and llm-d both define and compute the
// same way on each side.
import { createHash } from "node:crypto";

const DIGEST_BYTES = 32;

/** Where a block chain starts for `seed` (vLLM's NONE_HASH), memoized: a process uses one or two seeds. */
const noneHashes = new Map<string, Buffer>();

export function noneHash(seed: string): Buffer {
  let h = noneHashes.get(seed);
  if (!h) {
    const text = Buffer.from(seed, "utf8");
    h = createHash("sha256").update(Buffer.concat([cborHead(3, text.length), text])).digest();
    noneHashes.set(seed, h);
  }
  return h;
}

/** A CBOR head: major type `major` with argument `n`, in the shortest form (canonical CBOR). */
function cborHead(major: number, n: number): Buffer {
  const m = major << 5;
  if (n < 24) return Buffer.of(m | n);
  if (n < 0x100) return Buffer.of(m | 24, n);
  if (n < 0x10000) return Buffer.of(m | 25, n >> 8, n & 0xff);
  const b = Buffer.alloc(5);
  b[0] = m | 26;
  b.writeUInt32BE(n >>> 0, 1);
  return b;
}

/**
 * Writes [parent, [tokens], extra] as canonical CBOR into `out` (large enough); returns the
 * length. Token ids are non-negative 32-bit integers, so no 8-byte form is needed.
 */
function encodeBlock(out: Buffer, parent: Buffer, ids: ArrayLike<number>, start: number, size: number, extra: Buffer | null): number {
  let o = 0;
  out[o++] = 0x83; // array(3)
  out[o++] = 0x58; // byte string, 1-byte length
  out[o++] = DIGEST_BYTES;
  parent.copy(out, o, 0, DIGEST_BYTES);
  o += DIGEST_BYTES;
  const head = cborHead(4, size);
  head.copy(out, o);
  o += head.length;
  for (let i = start; i < start + size; i++) {
    const t = ids[i]!;
    if (!Number.isInteger(t) || t < 0 || t > 0xffffffff) throw new RangeError(`block hash: token id ${t} is not a 32-bit unsigned integer`);
    if (t < 24) out[o++] = t;
    else if (t < 0x100) {
      out[o++] = 24;
      out[o++] = t;
    } else if (t < 0x10000) {
      out[o++] = 25;
      out.writeUInt16BE(t, o);
      o += 2;
    } else {
      out[o++] = 26;
      out.writeUInt32BE(t, o);
      o += 4;
    }
  }
  if (extra) {
    extra.copy(out, o);
    o += extra.length;
  } else out[o++] = 0xf6; // null
  return o;
}

/** The first block's extra keys for a salt: CBOR [salt]; null (CBOR null) for the shared namespace. */
function saltKeys(salt: string): Buffer | null {
  if (salt === "") return null;
  const text = Buffer.from(salt, "utf8");
  return Buffer.concat([Buffer.of(0x81), cborHead(3, text.length), text]);
}

/** A block's 64-bit hash as published: the digest's last 8 bytes, big-endian. */
export function publishedHash(digest: Buffer): bigint {
  return digest.readBigUInt64BE(DIGEST_BYTES - 8);
}

/**
 * The 32-byte digests of the full blocks of `ids[0, end)` in namespace `salt`, chained from
 * the seed's NONE_HASH. `end` defaults to the whole sequence; a partial last block is left out.
 */
export function blockDigests(ids: ArrayLike<number>, blockSize: number, salt: string, seed = "", end = ids.length): Buffer[] {
  return extendDigests([], ids, blockSize, salt, seed, end);
}

/**
 * `known`, the digests of the first blocks of `ids` (in namespace `salt`), extended to every
 * full block of `ids[0, end)`: a chain continues from its last digest, so a sequence that grows
 * is hashed once. Returns a new array.
 */
export function extendDigests(known: readonly Buffer[], ids: ArrayLike<number>, blockSize: number, salt: string, seed = "", end = ids.length): Buffer[] {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
  const n = Math.floor(Math.min(end, ids.length) / blockSize);
  const out = known.slice(0, n);
  if (out.length === n) return out;
  const extra = saltKeys(salt);
  const buf = Buffer.alloc(3 + DIGEST_BYTES + 5 + 5 * blockSize + (extra?.length ?? 1));
  let parent = out.length > 0 ? out[out.length - 1]! : noneHash(seed);
  for (let b = out.length; b < n; b++) {
    const len = encodeBlock(buf, parent, ids, b * blockSize, blockSize, b === 0 ? extra : null);
    parent = createHash("sha256").update(buf.subarray(0, len)).digest();
    out.push(parent);
  }
  return out;
}

/**
 * The published 64-bit hashes of the full blocks of `tokenIds` in namespace `salt` ("" for the
 * shared one), as KV events name them: what a router computes for a request's prompt to look
 * its blocks up in a worker's event stream. Pure; one SHA-256 per block. `seed` is the
 * worker's --kv-events-hash-seed (vLLM's PYTHONHASHSEED, llm-d's hashSeed).
 */
export function blockHashes(tokenIds: ArrayLike<number>, blockSize: number, salt: string, seed = ""): bigint[] {
  return blockDigests(tokenIds, blockSize, salt, seed).map(publishedHash);
}
