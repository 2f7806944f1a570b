// The short, seeded version of the reliability suite (test/reliability/main.ts), inside
// `npm test`: 200 fuzz requests, 200 soak requests, 40 model-file mutations. The long version:
// `npm run test:reliability` (see the README).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { start, type Running } from "../server/harness.js";
import type { PartResult } from "./common.js";
import { fuzz } from "./fuzz.js";
import { soak } from "./soak.js";
import { modelMutations } from "./mutations.js";

const SEED = Number(process.env.RADIXLM_RELIABILITY_SEED ?? 7);
const T = { timeout: 120_000 };

let srv: Running;
before(async () => {
  srv = await start();
});
after(async () => {
  await srv?.close();
});

function check(r: PartResult, log: (s: string) => void): void {
  const line = `${r.part} (seed ${SEED}): ${r.tally.line()}; ${r.notes.join("; ")}`;
  log(line);
  assert.equal(r.tally.failures.length, 0, `${line}\n${r.tally.failures.slice(0, 30).join("\n")}`);
}

test("fuzz: 200 seeded requests over every route: no 5xx, envelopes, no drops; idle and exact accounting after", T, async (t) => {
  check(await fuzz({ url: srv.url, seed: SEED, requests: 200, concurrency: 8 }), (s) => t.diagnostic(s));
});

test("soak: 200 requests with disconnects, aborts and cache salts: idle, exact accounting, namespaces flushed", T, async (t) => {
  check(await soak({ url: srv.url, seed: SEED, requests: 200, salts: 50, concurrencies: [4, 16] }), (s) => t.diagnostic(s));
});

test("mutations: 10 per format (40) load and run, or are refused with one line", T, async (t) => {
  check(await modelMutations({ seed: SEED, count: 10 }), (s) => t.diagnostic(s));
});
