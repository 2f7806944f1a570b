// Every distinct cache_salt is a radix cache namespace, and one lives only while it holds
// entries: 1,000 salts through the real server leave at most what the pool can hold while
// they come, and nothing once they are flushed. /get_server_info and /metrics count them.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { get, post, start, until, type Running } from "./harness.js";

const T = { timeout: 300_000 };
const POOL = 2048;

let srv: Running;
before(async () => {
  srv = await start({ maxTotalTokens: POOL });
});
after(async () => {
  await srv?.close();
});

async function namespaces(): Promise<{ info: number; metric: number }> {
  const info = await get(`${srv.url}/get_server_info`);
  assert.equal(info.status, 200);
  const metrics = await get(`${srv.url}/metrics`);
  const line = /^radixlm:cache_namespaces\{[^}]*\} (\d+)$/m.exec(metrics.body as string);
  assert.ok(line, "radixlm:cache_namespaces is exported");
  return { info: info.body.stats.cacheNamespaces as number, metric: Number(line[1]) };
}

/** Sends `count` prompts of `tokens` ids, each under its own salt, `wave` at a time; each is computed and cached, nothing generated. */
async function salted(count: number, tokens: number, tag: string): Promise<number> {
  let most = 0;
  const wave = 50;
  for (let i = 0; i < count; i += wave) {
    const sends = Array.from({ length: Math.min(wave, count - i) }, (_, k) => post(`${srv.url}/generate`, {
      input_ids: Array.from({ length: tokens }, (_, j) => 1 + ((i + k + j) % 200)),
      sampling_params: { max_new_tokens: 0 },
      cache_salt: `${tag}-${i + k}-`.padEnd(256, "#"),
    }));
    for (const r of await Promise.all(sends)) assert.equal(r.status, 200, JSON.stringify(r.body));
    most = Math.max(most, srv.engine.stats().cacheNamespaces);
  }
  return most;
}

test("1,000 distinct salts: eviction drops emptied namespaces as they come, a flush drops the rest", T, async () => {
  assert.deepEqual(await namespaces(), { info: 0, metric: 0 });
  // 1,000 x 16 tokens is far more than the pool: eviction must make room, and the namespaces
  // it empties go with it.
  const tokens = 16;
  const most = await salted(1000, tokens, "a");
  assert.ok(most <= POOL / tokens, `${most} namespaces held at once, more than the ${POOL / tokens} the pool can fill`);
  assert.ok(srv.engine.stats().evictedTokens > 0);
  const before = await namespaces();
  assert.ok(before.info > 1 && before.info === before.metric, JSON.stringify(before));
  // the requests are done: the flush is allowed and empties every namespace
  assert.ok(await until(() => srv.engine.inflight === 0));
  const flushed = await post(`${srv.url}/flush_cache`, {});
  assert.equal(flushed.status, 200);
  assert.deepEqual(await namespaces(), { info: 0, metric: 0 });
  // a second round costs no more than the first: nothing accumulated from it
  const again = await salted(1000, tokens, "b");
  assert.ok(again <= POOL / tokens, `${again} namespaces in the second round`);
  assert.equal((await post(`${srv.url}/flush_cache`, {})).status, 200);
  assert.ok((await namespaces()).info <= 1);
});

test("unsalted requests share one namespace; a salted prompt is cached apart and matched only under its salt", T, async () => {
  const body = (salt?: string): Record<string, unknown> => ({ input_ids: [5, 6, 7, 8, 9, 10, 11, 12], sampling_params: { max_new_tokens: 0 }, ...(salt ? { cache_salt: salt } : {}) });
  const cached = async (salt?: string): Promise<number> => {
    const r = await post(`${srv.url}/generate`, body(salt));
    assert.equal(r.status, 200);
    return r.body.meta_info.cached_tokens as number;
  };
  assert.equal(await cached(), 0);
  assert.equal(await cached("tenant"), 0);
  assert.equal(await cached(), 7);
  assert.equal(await cached("tenant"), 7);
  assert.equal(await cached("other"), 0);
  assert.equal((await namespaces()).info, 3);
  assert.equal((await post(`${srv.url}/flush_cache`, {})).status, 200);
  assert.equal((await namespaces()).info, 0);
});
