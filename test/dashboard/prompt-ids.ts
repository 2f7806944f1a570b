// What the dashboard tests compare tree nodes against: a prompt's ids from the server's own
// /tokenize, and how many leading ids two prompts share.
import assert from "node:assert/strict";
import { post } from "../server/harness.js";

export async function ids(url: string, prompt: string, headers: Record<string, string> = {}): Promise<number[]> {
  const r = await post(`${url}/tokenize`, { prompt }, headers);
  assert.equal(r.status, 200);
  return r.body.tokens as number[];
}

export function common(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
