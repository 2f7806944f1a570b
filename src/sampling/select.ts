// Selection among the processed logits: top_k / top_p / min_p cuts found with a histogram
// and quickselect instead of a sort, and the draw among the kept tokens.
import { expNeg, topTokens } from "./logprobs.js";

/**
 * Step 2 when not greedy: one draw among the tokens that temperature and the cuts keep.
 * Every cut keeps a prefix of the rank order (logit desc, then id asc), so the kept set
 * is "every token ranked at or before one boundary token"; it is walked in id order.
 */
export function drawCut(x: Float32Array, n: number, max: number, temperature: number, minP: number, topK: number, topP: number, u: number): number {
  const invT = 1 / temperature;
  const zFloor = minP > 0 ? Math.log(minP) : -Infinity; // min_p: z >= log(min_p)
  if (topK > 0 && topK <= SMALL_K) return drawTopK(x, n, max, invT, zFloor, topK, topP, u);
  // One pass: weights, and a histogram of z = (logit - max) / T by count and mass that
  // tells in which bucket each cut falls; only that bucket is then resolved exactly.
  const cut = topK > 0 || topP < 1;
  if (cut) {
    counts.fill(0);
    masses.fill(0);
  }
  let total = 0;
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    const z = (v - max) * invT;
    if (!(v > -Infinity && z >= zFloor)) {
      weights[i] = 0;
      continue;
    }
    const w = expNeg(z);
    weights[i] = w;
    total += w;
    kept++;
    if (cut) {
      const b = bucketOfZ(z);
      counts[b]++;
      masses[b] += w;
    }
  }
  if (!cut) return walk(weights, n, u * total);
  let boundary = -1; // the last kept token in rank order; -1: every token above the floor
  let kBucket = BUCKETS; // the bucket where top_k cut, and how many of it it kept
  let kTaken = 0;
  let mass = total; // of what top_k kept
  if (topK > 0 && topK < kept) {
    let before = 0;
    let b = 0;
    for (mass = 0; before + counts[b]! < topK; b++) {
      before += counts[b]!;
      mass += masses[b]!;
    }
    kTaken = selectPrefix(x, null, ids, gatherBucket(x, n, max, invT, zFloor, b), topK - before);
    for (let j = 0; j < kTaken; j++) mass += weights[ids[j]!]!;
    kBucket = b;
    boundary = lastInRank(x, kTaken);
  }
  if (topP < 1) {
    const need = topP * mass; // renormalised over what top_k kept
    let acc = 0;
    let b = 0;
    for (; b < kBucket && b < BUCKETS - 1 && acc + masses[b]! < need; b++) acc += masses[b]!;
    // In top_k's bucket, the members it kept are still in ids[0..kTaken).
    const members = b === kBucket ? kTaken : gatherBucket(x, n, max, invT, zFloor, b);
    // (no members: rounding left the mass short of need everywhere; keep all)
    if (members > 0) boundary = lastInRank(x, selectPrefix(x, weights, ids, members, need - acc));
  }
  return drawKept(x, n, boundary, u);
}

// ---- work buffers and selection ----

/** top_k up to this: one insertion pass, no exp over the vocabulary. */
const SMALL_K = 64;
/** Histogram of z = (logit - max) / T in steps of 1/16 down to -64; the last bucket holds the rest. */
const BUCKETS = 1024;
const BUCKETS_PER_UNIT = 16;

// Shared by all samplers: sample() is synchronous, so no two calls can interleave, and
// per-sampler copies would cost ~2.5 MB each at a 152k vocabulary.
let values = new Float32Array(0); // processed logits
let weights = new Float64Array(0); // exp((logit - max) / T) of the tokens above the floor, else 0
let ids = new Int32Array(0); // candidate token ids
const counts = new Int32Array(BUCKETS);
const masses = new Float64Array(BUCKETS);

export function reserve(n: number): Float32Array {
  if (values.length < n) {
    values = new Float32Array(n);
    weights = new Float64Array(n);
    ids = new Int32Array(n);
  }
  return values;
}

function bucketOfZ(z: number): number {
  const b = -z * BUCKETS_PER_UNIT;
  return b < BUCKETS - 1 ? b | 0 : BUCKETS - 1;
}

/** The lowest id of the largest logit; -1 when none is > -Infinity. */
export function argmax(x: Float32Array, n: number): number {
  let best = -1;
  let bv = -Infinity;
  for (let i = 0; i < n; i++) {
    if (x[i]! > bv) {
      bv = x[i]!;
      best = i;
    }
  }
  return best;
}

export function applyMask(x: Float32Array, n: number, mask: Uint32Array): void {
  const words = (n + 31) >>> 5;
  if (mask.length < words) throw new Error(`sampler: the token mask has ${mask.length} words, the vocabulary needs ${words}`);
  for (let w = 0; w < words; w++) {
    const bits = mask[w]!;
    if (bits === 0xffffffff) continue;
    const base = w << 5;
    const end = Math.min(base + 32, n);
    for (let i = base; i < end; i++) if (((bits >>> (i - base)) & 1) === 0) x[i] = -Infinity;
  }
}

/** The tokens above the floor in bucket b into ids[0..), in id order; returns how many. */
function gatherBucket(x: Float32Array, n: number, max: number, invT: number, zFloor: number, b: number): number {
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    const z = (v - max) * invT;
    if (v > -Infinity && z >= zFloor && bucketOfZ(z) === b) ids[count++] = i;
  }
  return count;
}

/** Whether token a ranks before token b: higher logit, then lower id. */
function before(x: Float32Array, a: number, b: number): boolean {
  return x[a]! > x[b]! || (x[a] === x[b] && a < b);
}

/** The lowest-ranked of ids[0..count). */
function lastInRank(x: Float32Array, count: number): number {
  let last = ids[0]!;
  for (let j = 1; j < count; j++) if (before(x, last, ids[j]!)) last = ids[j]!;
  return last;
}

/**
 * Reorders ids[0..m) so that ids[0..c) is the shortest prefix, in rank order, whose
 * weight reaches `need`, and returns c (m if none does). `w` null: every token weighs 1.
 * Quickselect: expected O(m), no sort.
 */
function selectPrefix(x: Float32Array, w: Float64Array | null, ids: Int32Array, m: number, need: number): number {
  let lo = 0;
  let hi = m;
  while (hi - lo > 16) {
    // median of three as the pivot, moved to hi - 1
    const mid = (lo + hi) >>> 1;
    let a = ids[lo]!;
    let b = ids[mid]!;
    let c = ids[hi - 1]!;
    let t: number;
    if (before(x, b, a)) (t = a), (a = b), (b = t);
    if (before(x, c, b)) (t = b), (b = c), (c = t);
    if (before(x, b, a)) (t = a), (a = b), (b = t);
    ids[lo] = a;
    ids[mid] = c;
    ids[hi - 1] = b;
    const pivot = b;
    let store = lo;
    let mass = 0;
    for (let i = lo; i < hi - 1; i++) {
      const id = ids[i]!;
      if (before(x, id, pivot)) {
        ids[i] = ids[store]!;
        ids[store++] = id;
        mass += w === null ? 1 : w[id]!;
      }
    }
    ids[hi - 1] = ids[store]!;
    ids[store] = pivot;
    if (mass >= need) {
      hi = store;
      continue;
    }
    mass += w === null ? 1 : w[pivot]!;
    if (mass >= need) return store + 1;
    need -= mass;
    lo = store + 1;
  }
  for (let i = lo + 1; i < hi; i++) {
    const id = ids[i]!;
    let j = i;
    while (j > lo && before(x, id, ids[j - 1]!)) {
      ids[j] = ids[j - 1]!;
      j--;
    }
    ids[j] = id;
  }
  let mass = 0;
  for (let i = lo; i < hi; i++) {
    mass += w === null ? 1 : w[ids[i]!]!;
    if (mass >= need) return i + 1;
  }
  return hi;
}

/** top_k <= SMALL_K: the k best by insertion, then min_p and top_p down the ranked list. */
function drawTopK(x: Float32Array, n: number, max: number, invT: number, zFloor: number, k: number, topP: number, u: number): number {
  let count = topTokens(x, n, k, ids);
  while (count > 1 && !((x[ids[count - 1]!]! - max) * invT >= zFloor)) count--;
  let total = 0;
  for (let j = 0; j < count; j++) {
    const id = ids[j]!;
    const w = expNeg((x[id]! - max) * invT);
    weights[id] = w;
    total += w;
  }
  if (topP < 1) {
    const need = topP * total;
    let acc = 0;
    for (let j = 0; j < count; j++) {
      acc += weights[ids[j]!]!;
      if (acc >= need) {
        count = j + 1;
        break;
      }
    }
  }
  const kept = ids.subarray(0, count).sort();
  return walkIds(kept, count, u);
}

/** The first of w[0..n) whose running sum exceeds r (the last nonzero one if rounding runs out). */
function walk(w: Float64Array, n: number, r: number): number {
  let acc = 0;
  let last = -1;
  for (let i = 0; i < n; i++) {
    const wi = w[i]!;
    if (wi === 0) continue;
    acc += wi;
    last = i;
    if (r < acc) return i;
  }
  return last;
}

/** A draw among ids[0..count) (in id order) with probability proportional to their weights. */
function walkIds(list: Int32Array, count: number, u: number): number {
  let total = 0;
  for (let j = 0; j < count; j++) total += weights[list[j]!]!;
  const r = u * total;
  let acc = 0;
  let last = list[0]!;
  for (let j = 0; j < count; j++) {
    const wj = weights[list[j]!]!;
    if (wj === 0) continue;
    acc += wj;
    last = list[j]!;
    if (r < acc) return last;
  }
  return last;
}

/** A draw among the tokens ranked at or before `boundary` (-1: all with weight), in id order. */
function drawKept(x: Float32Array, n: number, boundary: number, u: number): number {
  if (boundary < 0) {
    let total = 0;
    for (let i = 0; i < n; i++) total += weights[i]!;
    return walk(weights, n, u * total);
  }
  const bv = x[boundary]!;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (v > bv || (v === bv && i <= boundary)) ids[count++] = i;
  }
  return walkIds(ids, count, u);
}
