// A request's life in the scheduler, driven without a model: each step is schedule(), then
// complete() and postprocess() with tokens the test picks, as the engine does around its
// forward pass and sampling. The KV accounting is checked after every call that moves slots.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KVPool } from "../../src/kvcache/pool.js";
import { RadixCache } from "../../src/kvcache/radix-cache.js";
import { NoCache } from "../../src/kvcache/no-cache.js";
import type { PrefixCache } from "../../src/kvcache/prefix-cache.js";
import { Scheduler, type OutputEvent, type Sampled, type SchedulerOptions } from "../../src/scheduler/scheduler.js";
import type { Batch } from "../../src/scheduler/plan.js";
import type { Request } from "../../src/scheduler/request.js";
import type { SamplingParams } from "../../src/sampling/params.js";
import { eosId, makeRequest } from "../helpers/requests.js";

function setup(capacity: number, opts: Partial<SchedulerOptions> = {}, cache: PrefixCache = new RadixCache()) {
  const pool = new KVPool(capacity);
  const s = new Scheduler(pool, cache, { chunkedPrefillSize: 64, maxRunningRequests: 8, policy: "fcfs", decodeReserveRatio: 0, ...opts });
  return { pool, cache, s };
}

/** `n` token ids from `from` on (keep them below 97 for prompts: letters are output). */
const ids = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

/** "a" for a request's first output token, "b" for its second, ... */
const nextLetter = (req: Request): number => 97 + (req.outputLength % 26);

/** schedule(), accounting checked: the batch's requests now hold their step's slots too. */
function schedule(s: Scheduler): Batch | null {
  const b = s.schedule();
  s.checkAccounting();
  return b;
}

/**
 * The forward pass is done: complete the batch, then sample the rows that want logits as
 * the engine does (none for aborted requests; those at max_new_tokens already are `limited`).
 */
function finishStep(s: Scheduler, b: Batch, pick: (req: Request) => number = nextLetter): OutputEvent[] {
  s.complete(b);
  s.checkAccounting();
  const sampled: Sampled[] = [];
  const limited: Request[] = [];
  for (const { req, wantLogits } of b.entries) {
    if (!wantLogits || req.aborted || req.status === "finished") continue;
    if (req.outputLength >= req.params.maxNewTokens) limited.push(req);
    else sampled.push({ req, token: pick(req) });
  }
  const events = s.postprocess(sampled, limited);
  s.checkAccounting();
  return events;
}

/** Whole steps until nothing is left to run; their events. */
function drain(s: Scheduler, pick: (req: Request) => number = nextLetter): OutputEvent[] {
  const events: OutputEvent[] = [];
  for (let i = 0; i < 200; i++) {
    const b = schedule(s);
    if (!b) return events;
    events.push(...finishStep(s, b, pick));
  }
  throw new Error("drain: still running after 200 steps");
}

/** A batch as [id, start, count] rows. */
const rows = (b: Batch | null): [string, number, number][] => (b?.entries ?? []).map((e) => [e.req.id, e.start, e.count]);

/** Events as [id, token id or "finish", text]. */
const shown = (events: readonly OutputEvent[]): [string, number | "finish", string][] =>
  events.map((e) => [e.req.id, e.kind === "token" ? e.tokenId : "finish", e.text]);

/** Cached length of a token sequence (in the shared namespace). */
const cachedLength = (cache: PrefixCache, tokens: readonly number[]): number => cache.match({ ids: tokens, salt: "" }).slots.length;

/** Nothing runs and nothing is held: every slot is free or an unlocked cache entry. */
function assertReleased(s: Scheduler, pool: KVPool, cache: PrefixCache): void {
  s.checkAccounting();
  assert.equal(s.running.length, 0);
  assert.equal(s.ownedSlots(), 0);
  assert.equal(cache.stats().protectedTokens, 0);
  assert.equal(pool.freeCount + cache.stats().evictableTokens, pool.capacity);
}

// --- Retraction ---------------------------------------------------------------------------

test("retraction: the most recently admitted request waits again and resumes from what the cache kept", () => {
  // Three 8-token prompts in a 30-slot pool: after three decode steps the pool is full.
  const { pool, cache, s } = setup(30);
  const a = makeRequest("a", ids(1, 8), 0);
  const b = makeRequest("b", ids(11, 8), 1);
  const c = makeRequest("c", ids(21, 8), 2, { params: { maxNewTokens: 6 } });
  for (const r of [a, b, c]) s.enqueue([r]);
  for (let i = 0; i < 3; i++) finishStep(s, schedule(s)!);
  assert.equal(pool.freeCount, 0);
  assert.equal(s.retractions, 0);

  // a needs a slot: c, admitted last, is retracted. Its computed tokens (prompt and two
  // outputs) go into the cache; the two outputs, the newest leaf, are evicted at once for
  // a's and b's slots. c cannot come back in this step: nothing is left for it.
  const b4 = schedule(s)!;
  assert.deepEqual(rows(b4), [["a", 10, 1], ["b", 10, 1]]);
  assert.equal(s.retractions, 1);
  assert.deepEqual(s.waiting, [c]);
  assert.deepEqual(s.running, [a, b]);
  assert.equal(c.status, "waiting");
  assert.deepEqual([c.computed, c.allocated, c.prefixLength, c.handle], [0, 0, 0, null]);
  assert.equal(cachedLength(cache, c.tokens), 8);
  finishStep(s, b4);
  assert.deepEqual([a.finishReason, b.finishReason], ["length", "length"]);

  // c resumes from its cached prompt, recomputes its outputs, and goes on to finish.
  const b5 = schedule(s)!;
  assert.deepEqual(rows(b5), [["c", 8, 3]]);
  finishStep(s, b5);
  drain(s);
  assert.equal(c.finishReason, "length");
  assert.equal(c.text, "abcdef");
  assert.equal(s.retractions, 1);
  assertReleased(s, pool, cache);
});

test("admission: a prompt that does not fit beside the running requests waits; it never retracts them (no livelock)", () => {
  // Two 16-token prompts, a 24-slot pool, 8-token chunks, prefill-first steps, no cache.
  // b's first chunk fits beside a, its whole prompt does not: admitted on its first chunk,
  // its second would retract a, which (caching nothing) starts over and retracts b in turn.
  const { pool, cache, s } = setup(24, { chunkedPrefillSize: 8, mixedSteps: false }, new NoCache());
  const a = makeRequest("a", ids(1, 16), 0, { params: { maxNewTokens: 2 } });
  const b = makeRequest("b", ids(40, 16), 1, { params: { maxNewTokens: 2 } });
  s.enqueue([a]);
  s.enqueue([b]);
  const steps: [string, number, number][][] = [];
  for (let i = 0; i < 12 && !s.idle; i++) {
    const batch = schedule(s)!;
    steps.push(rows(batch));
    finishStep(s, batch);
  }
  assert.deepEqual(steps, [
    [["a", 0, 8]], [["a", 8, 8]], [["a", 16, 1]],
    [["b", 0, 8]], [["b", 8, 8]], [["b", 16, 1]],
  ]);
  assert.equal(s.retractions, 0);
  assert.deepEqual([a.finishReason, b.finishReason], ["length", "length"]);
  assertReleased(s, pool, cache);
});

// --- Finish conditions --------------------------------------------------------------------

/** Runs one request (prompt 1..4) to its finish, sampling `tokens` in order. */
function generate(params: Partial<SamplingParams>, tokens: readonly number[]) {
  const { pool, cache, s } = setup(64);
  const r = makeRequest("r", ids(1, 4), 0, { params });
  s.enqueue([r]);
  const left = [...tokens];
  const events = drain(s, () => left.shift() ?? assert.fail("sampled more tokens than the test gave"));
  assert.equal(left.length, 0, "every token was appended");
  assert.equal(r.status, "finished");
  assertReleased(s, pool, cache);
  return { r, cache, events: shown(events) };
}

test("finish: max_new_tokens ends the request with 'length', every token counted", () => {
  const { r, events } = generate({ maxNewTokens: 3 }, [97, 98, 99]);
  assert.deepEqual(events, [["r", 97, "a"], ["r", 98, "b"], ["r", 99, "c"], ["r", "finish", ""]]);
  assert.equal(r.finishReason, "length");
  assert.deepEqual(r.outputIds, [97, 98, 99]);
  assert.equal(r.outputLength, 3);
  assert.equal(r.text, "abc");
  assert.equal(r.endedOnStopToken, false);
});

test("finish: a stop_token_id ends the request with 'stop'; the stop token is neither shown nor computed", () => {
  const { r, cache, events } = generate({ maxNewTokens: 8, stopTokenIds: [100] }, [97, 98, 100]);
  assert.deepEqual(events, [["r", 97, "a"], ["r", 98, "b"], ["r", "finish", ""]]);
  assert.equal(r.finishReason, "stop");
  assert.ok(r.endedOnStopToken);
  assert.deepEqual(r.outputIds, [97, 98]);
  assert.equal(r.tokens.at(-1), 100);
  assert.equal(r.text, "ab");
  assert.equal(cachedLength(cache, r.tokens), 6, "prompt and shown output cached, not the stop token");
});

test("finish: EOS ends the request with 'stop'", () => {
  const { r, events } = generate({ maxNewTokens: 8 }, [97, eosId()]);
  assert.deepEqual(events, [["r", 97, "a"], ["r", "finish", ""]]);
  assert.equal(r.finishReason, "stop");
  assert.ok(r.endedOnStopToken);
  assert.deepEqual(r.outputIds, [97]);
});

test("finish: with ignore_eos, EOS is an ordinary token and the request goes on", () => {
  const { r, events } = generate({ maxNewTokens: 3, ignoreEos: true }, [97, eosId(), 98]);
  assert.deepEqual(events, [["r", 97, "a"], ["r", eosId(), ""], ["r", 98, "b"], ["r", "finish", ""]]);
  assert.equal(r.finishReason, "length");
  assert.equal(r.endedOnStopToken, false);
  assert.deepEqual(r.outputIds, [97, eosId(), 98]);
  assert.equal(r.text, "ab");
});

test("finish: a stop string across two tokens ends the request with 'stop', the stop cut from the text", () => {
  const { r, events } = generate({ maxNewTokens: 8, stop: ["cd"] }, [97, 98, 99, 100]);
  // "c" may start the stop: held back, then dropped when "d" completes it.
  assert.deepEqual(events, [["r", 97, "a"], ["r", 98, "b"], ["r", 99, ""], ["r", 100, ""], ["r", "finish", ""]]);
  assert.equal(r.finishReason, "stop");
  assert.equal(r.text, "ab");
  assert.equal(r.endedOnStopToken, false);
  assert.deepEqual(r.outputIds, [97, 98, 99, 100]);
});

test("finish: text held back for a possible stop string is released by the finish event", () => {
  const { r, events } = generate({ maxNewTokens: 3, stop: ["cd"] }, [97, 98, 99]);
  assert.deepEqual(events, [["r", 97, "a"], ["r", 98, "b"], ["r", 99, ""], ["r", "finish", "c"]]);
  assert.equal(r.finishReason, "length");
  assert.equal(r.text, "abc");
});

test("finish: max_new_tokens 0 finishes with 'length' after the prefill, with no output", () => {
  const { r, events } = generate({ maxNewTokens: 0 }, []);
  assert.deepEqual(events, [["r", "finish", ""]]);
  assert.equal(r.finishReason, "length");
  assert.deepEqual(r.outputIds, []);
  assert.equal(r.text, "");
});

// --- Abort --------------------------------------------------------------------------------

test("abort while queued: finish() drops the waiting request; nothing was held", () => {
  const { pool, cache, s } = setup(64);
  const a = makeRequest("a", ids(1, 8), 0);
  s.enqueue([a]);
  a.aborted = true;
  assert.deepEqual(shown(s.finish(a, "abort")), [["a", "finish", ""]]);
  assert.deepEqual([a.status, a.finishReason], ["finished", "abort"]);
  assert.ok(s.idle);
  assert.equal(s.queued, 0);
  assert.equal(schedule(s), null);
  assert.equal(pool.freeCount, pool.capacity);
  assertReleased(s, pool, cache);
});

test("abort mid chunked prefill: reapAborted releases the request; its computed chunk stays cached, unlocked", () => {
  const { pool, cache, s } = setup(64, { chunkedPrefillSize: 16 });
  const a = makeRequest("a", ids(1, 40), 0);
  s.enqueue([a]);
  finishStep(s, schedule(s)!);
  assert.deepEqual([a.status, a.computed], ["running", 16]);
  a.aborted = true;
  assert.deepEqual(shown(s.reapAborted()), [["a", "finish", ""]]);
  assert.equal(a.finishReason, "abort");
  assert.ok(s.idle);
  assert.equal(s.queued, 0);
  assertReleased(s, pool, cache);
  assert.equal(cache.stats().evictableTokens, 16);
  assert.equal(cachedLength(cache, a.tokens), 16);
});

test("abort while decoding, during the forward pass: no token is sampled, and reapAborted releases it after the step", () => {
  const { pool, cache, s } = setup(64);
  const a = makeRequest("a", ids(1, 8), 0, { params: { maxNewTokens: 10 } });
  const other = makeRequest("other", ids(30, 8), 1, { params: { maxNewTokens: 10 } });
  s.enqueue([a]);
  s.enqueue([other]);
  finishStep(s, schedule(s)!);
  finishStep(s, schedule(s)!);
  const b = schedule(s)!;
  assert.deepEqual(rows(b), [["a", 9, 1], ["other", 9, 1]]);
  a.aborted = true;
  assert.deepEqual(shown(finishStep(s, b)), [["other", 99, "c"]]);
  assert.deepEqual(a.outputIds, [97, 98]);
  assert.deepEqual(shown(s.reapAborted()), [["a", "finish", ""]]);
  assert.deepEqual([a.status, a.finishReason], ["finished", "abort"]);
  assert.deepEqual(s.running, [other]);
  s.checkAccounting();
  assert.equal(cachedLength(cache, a.tokens), 10, "prompt and both outputs, computed in the aborted step");
  drain(s);
  assert.equal(other.finishReason, "length");
  assert.ok(s.idle);
  assertReleased(s, pool, cache);
});

test("abort of a parked sample: it never enters waiting; its sibling runs on", () => {
  const { pool, cache, s } = setup(64);
  const a = makeRequest("a", ids(1, 8), 0, { params: { n: 2 } });
  const b = makeRequest("b", ids(1, 8), 0, { sample: 1, params: { n: 2 }, parentId: "a" });
  s.enqueue([a, b]);
  assert.equal(b.status, "parked");
  assert.equal(s.queued, 2);
  b.aborted = true;
  assert.deepEqual(shown(s.finish(b, "abort")), [["b", "finish", ""]]);
  assert.equal(s.queued, 1);
  // a computes the prompt: nothing is unparked behind it.
  finishStep(s, schedule(s)!);
  assert.deepEqual(s.waiting, []);
  assert.equal(s.queued, 0);
  drain(s);
  assert.deepEqual([a.finishReason, b.finishReason], ["length", "abort"]);
  assert.equal(b.cachedPromptTokens, -1, "b was never admitted");
  assert.ok(s.idle);
  assertReleased(s, pool, cache);
});

test("abort of a first sample: the sample parked behind it is not lost", () => {
  // Aborted while waiting: the parked sample waits in its place and computes the prompt.
  {
    const { pool, cache, s } = setup(64);
    const a = makeRequest("a", ids(1, 8), 0, { params: { n: 2 } });
    const b = makeRequest("b", ids(1, 8), 0, { sample: 1, params: { n: 2 }, parentId: "a" });
    s.enqueue([a, b]);
    a.aborted = true;
    s.finish(a, "abort");
    assert.deepEqual(s.waiting, [b]);
    assert.equal(b.status, "waiting");
    assert.equal(s.queued, 1);
    assert.deepEqual(rows(schedule(s)), [["b", 0, 8]]);
    drain(s);
    assert.equal(b.finishReason, "length");
    assertReleased(s, pool, cache);
  }
  // Aborted mid chunked prefill: the parked sample starts from the chunk it cached.
  {
    const { pool, cache, s } = setup(64, { chunkedPrefillSize: 16 });
    const a = makeRequest("a", ids(1, 40), 0, { params: { n: 2 } });
    const b = makeRequest("b", ids(1, 40), 0, { sample: 1, params: { n: 2 }, parentId: "a" });
    s.enqueue([a, b]);
    finishStep(s, schedule(s)!);
    a.aborted = true;
    assert.deepEqual(shown(s.reapAborted()), [["a", "finish", ""]]);
    assert.deepEqual(s.waiting, [b]);
    assert.equal(s.queued, 1);
    assertReleased(s, pool, cache);
    assert.deepEqual(rows(schedule(s)), [["b", 16, 16]]);
    drain(s);
    assert.equal(b.finishReason, "length");
    assertReleased(s, pool, cache);
  }
  // The whole submission aborted while queued (as the engine does): both released in turn.
  {
    const { pool, cache, s } = setup(64);
    const a = makeRequest("a", ids(1, 8), 0, { params: { n: 2 } });
    const b = makeRequest("b", ids(1, 8), 0, { sample: 1, params: { n: 2 }, parentId: "a" });
    s.enqueue([a, b]);
    for (const r of [a, b]) r.aborted = true;
    const events = [a, b].flatMap((r) => (r.status === "waiting" || r.status === "parked" ? s.finish(r, "abort") : []));
    assert.deepEqual(shown(events), [["a", "finish", ""], ["b", "finish", ""]]);
    assert.ok(s.idle);
    assert.equal(s.queued, 0);
    assert.equal(schedule(s), null);
    assertReleased(s, pool, cache);
  }
});

// --- n > 1 --------------------------------------------------------------------------------

test("n > 1: the parked samples wait until the first one's prompt is cached, then match all of it but the last token", () => {
  const { pool, cache, s } = setup(128, { chunkedPrefillSize: 16 });
  const prompt = ids(1, 40);
  const samples = [0, 1, 2].map((i) => makeRequest(`s${i}`, prompt, 0, { sample: i, params: { n: 3 }, parentId: "p" }));
  const [first, ...rest] = samples as [Request, Request, Request];
  s.enqueue(samples);
  assert.deepEqual(rest.map((r) => r.status), ["parked", "parked"]);
  assert.deepEqual(s.waiting, [first]);
  assert.equal(s.queued, 3);
  for (const [start, count] of [[0, 16], [16, 16], [32, 8]]) {
    const b = schedule(s)!;
    assert.deepEqual(rows(b), [["s0", start, count]]);
    // Still parked while the prompt is being computed, including during its last chunk.
    assert.deepEqual(rest.map((r) => r.status), ["parked", "parked"]);
    assert.deepEqual(s.waiting, []);
    assert.equal(s.queued, 2);
    finishStep(s, b);
  }
  // The prompt is cached: the samples wait, and match everything but the token they compute.
  assert.deepEqual(s.waiting, rest);
  assert.deepEqual(rest.map((r) => r.status), ["waiting", "waiting"]);
  for (const r of rest) assert.equal(cachedLength(cache, r.key(r.matchLimit).ids as number[]), 39);
  assert.deepEqual(rows(schedule(s)), [["s0", 40, 1], ["s1", 39, 1], ["s2", 39, 1]]);
  assert.deepEqual(rest.map((r) => r.cachedPromptTokens), [39, 39]);
  drain(s);
  assert.deepEqual(samples.map((r) => r.finishReason), ["length", "length", "length"]);
  assertReleased(s, pool, cache);
});

// --- Admission ----------------------------------------------------------------------------

test("decode reserve: a second admission waits while free + evictable cannot cover its prompt and the reserve", () => {
  // a (max 100 new tokens) runs; b (8 tokens, max 4) arrives after a's first token. With
  // ratio 0.5 b needs 8 + ceil(99 * 0.5) + ceil(4 * 0.5) = 60 slots; after a's decode slot,
  // 68 - 9 = 59 are free.
  const admitted = (capacity: number, decodeReserveRatio: number): boolean => {
    const { s } = setup(capacity, { decodeReserveRatio });
    const a = makeRequest("a", ids(1, 8), 0, { params: { maxNewTokens: 100 } });
    s.enqueue([a]);
    finishStep(s, schedule(s)!);
    s.enqueue([makeRequest("b", ids(20, 8), 1)]);
    const b = schedule(s)!;
    return rows(b).some(([id]) => id === "b");
  };
  assert.equal(admitted(68, 0.5), false);
  assert.equal(admitted(69, 0.5), true);
  assert.equal(admitted(68, 0), true);

  // Held back, b is admitted once a finishes.
  const { pool, cache, s } = setup(68, { decodeReserveRatio: 0.5 });
  const a = makeRequest("a", ids(1, 8), 0, { params: { maxNewTokens: 100 } });
  s.enqueue([a]);
  finishStep(s, schedule(s)!);
  s.enqueue([makeRequest("b", ids(20, 8), 1)]);
  const held = schedule(s)!;
  assert.deepEqual(rows(held), [["a", 8, 1]]);
  finishStep(s, held, () => eosId());
  assert.equal(a.finishReason, "stop");
  assert.deepEqual(rows(schedule(s)), [["b", 0, 8]]);
  drain(s);
  assertReleased(s, pool, cache);
});

test("in-batch prefix wait: a request sharing a prefix being prefilled waits and then starts from the cache", () => {
  // A 48-token budget leaves room after a's 42-token prompt in the first step: with a
  // 16-token budget the prefix would take the whole budget of every step but the last,
  // whose remaining chunk is under the 32-token threshold, so the rule would never apply.
  const prefix = ids(1, 40);
  const start = (waitForSharedPrefill: boolean) => {
    const { pool, cache, s } = setup(256, { chunkedPrefillSize: 48, waitForSharedPrefill });
    s.enqueue([makeRequest("a", [...prefix, 91, 92], 0)]);
    s.enqueue([makeRequest("b", [...prefix, 93, 94], 1)]);
    s.enqueue([makeRequest("c", ids(50, 4), 2)]);
    const first = schedule(s)!;
    finishStep(s, first);
    const second = schedule(s)!;
    finishStep(s, second);
    drain(s);
    assertReleased(s, pool, cache);
    return [rows(first), rows(second)];
  };
  // b waits for a (c, sharing nothing, goes ahead), then reuses the 40 tokens a cached.
  assert.deepEqual(start(true), [
    [["a", 0, 42], ["c", 0, 4]],
    [["a", 42, 1], ["c", 4, 1], ["b", 40, 2]],
  ]);
  // Without the wait b is admitted at once and computes the prefix again.
  assert.deepEqual(start(false), [
    [["a", 0, 42], ["b", 0, 6]],
    [["a", 42, 1], ["b", 6, 36], ["c", 0, 4]],
  ]);
});

// --- No-reuse cache -----------------------------------------------------------------------

test("no-reuse cache: a chunked prefill keeps its own slots, a finished request frees them all, nothing is matched", () => {
  const { pool, cache, s } = setup(64, { chunkedPrefillSize: 16 }, new NoCache());
  const r = makeRequest("r", ids(1, 40), 0, { params: { maxNewTokens: 2 } });
  s.enqueue([r]);
  const own = (n: number): number[] => Array.from(r.slots.subarray(0, n));
  for (const [start, count] of [[0, 16], [16, 16], [32, 8]]) {
    const before = own(start);
    const b = schedule(s)!;
    assert.deepEqual(rows(b), [["r", start, count]]);
    finishStep(s, b);
    assert.deepEqual(own(start), before, "the slots of earlier chunks are kept");
    assert.equal(r.prefixLength, 0);
    assert.equal(s.ownedSlots(), r.allocated);
    assert.equal(pool.freeCount, 64 - r.allocated);
  }
  assert.deepEqual(own(40), ids(0, 40));
  drain(s);
  assert.equal(r.finishReason, "length");
  assert.equal(pool.freeCount, pool.capacity);
  assert.equal(cache.stats().cachedTokens, 0);
  assertReleased(s, pool, cache);

  const again = makeRequest("again", ids(1, 40), 1, { params: { maxNewTokens: 2 } });
  s.enqueue([again]);
  assert.deepEqual(rows(schedule(s)), [["again", 0, 16]]);
});

// --- A failed step ------------------------------------------------------------------------

test("failBatch: every request of the batch fails and frees its slots, the step's too; the others go on", () => {
  // Prefill-only steps, so that the decoding request c is not in the failed prefill step.
  const { pool, cache, s } = setup(128, { chunkedPrefillSize: 16, mixedSteps: false });
  const c = makeRequest("c", ids(1, 4), 0, { params: { maxNewTokens: 3 } });
  s.enqueue([c]);
  finishStep(s, schedule(s)!);
  const a = makeRequest("a", ids(20, 24), 1);
  s.enqueue([a]);
  finishStep(s, schedule(s)!);
  const b = makeRequest("b", ids(50, 6), 2);
  s.enqueue([b]);
  const failed = schedule(s)!;
  assert.deepEqual(rows(failed), [["a", 16, 8], ["b", 0, 6]]);
  assert.equal(pool.freeCount, 128 - 4 - 24 - 6);

  const events = s.failBatch(failed, new Error("forward failed"));
  assert.deepEqual(shown(events), [["a", "finish", ""], ["b", "finish", ""]]);
  for (const r of [a, b]) {
    assert.deepEqual([r.status, r.finishReason, r.error?.message], ["finished", "error", "forward failed"]);
  }
  assert.deepEqual(s.running, [c]);
  s.checkAccounting();
  // a's first chunk stays cached; the slots of the failed step are free again.
  assert.equal(cachedLength(cache, a.tokens), 16);
  assert.equal(cache.stats().evictableTokens, 16);
  assert.equal(pool.freeCount, 128 - 4 - 16);

  assert.deepEqual(rows(schedule(s)), [["c", 4, 1]]);
  drain(s);
  assert.deepEqual(c.outputIds, [97, 98, 99]);
  assert.equal(c.finishReason, "length");
  assertReleased(s, pool, cache);
});
