// Draft lengths from acceptance learned per position (src/speculative/acceptance.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Acceptance, draftLength } from "../../src/speculative/acceptance.js";

test("before any evidence, the prior decides: a sure source drafts long, an unsure one short", () => {
  const own = new Acceptance(8);
  const shared = new Acceptance(8);
  // 0.8^i >= 0.25 up to i = 6; 0.5^i up to i = 2.
  assert.equal(draftLength(own, shared, 0.8, 8, 0.25), 6);
  assert.equal(draftLength(own, shared, 0.5, 8, 0.25), 2);
  assert.equal(draftLength(own, shared, 0.5, 8, 0.6), 0);
  assert.equal(draftLength(own, shared, 0.8, 3, 0.01), 3);
});

test("a copy that fails at its first token half the time, and otherwise holds, drafts long", () => {
  const own = new Acceptance(8);
  const shared = new Acceptance(8);
  for (let v = 0; v < 200; v++) {
    const accepted = v % 2 === 0 ? 0 : 8;
    own.add(8, accepted, 0.9);
    shared.add(8, accepted, 0.99);
  }
  assert.ok(Math.abs(own.rate(0, 0.5) - 0.5) < 0.1, `first position ${own.rate(0, 0.5)}`);
  assert.ok(own.rate(3, 0.5) > 0.85, `later positions ${own.rate(3, 0.5)}`);
  // One geometric rate for all positions (8 kept of 8 + 1 refusal per 2 verifications: 0.89)
  // would say the same of the first token as of the eighth; per position, the eighth is
  // nearly as likely as the first.
  assert.equal(draftLength(own, shared, 0.5, 8, 0.3), 8);
  assert.equal(draftLength(own, shared, 0.5, 8, 0.6), 0);
});

test("drafts that keep failing at their second token stop at one", () => {
  const own = new Acceptance(8);
  const shared = new Acceptance(8);
  for (let v = 0; v < 100; v++) {
    own.add(4, 1, 0.9);
    shared.add(4, 1, 0.99);
  }
  assert.equal(draftLength(own, shared, 0.8, 8, 0.2), 1);
});

test("the request's own evidence outweighs the engine's, and old evidence fades", () => {
  const own = new Acceptance(4);
  const shared = new Acceptance(4);
  for (let v = 0; v < 100; v++) shared.add(4, 4, 0.99);
  assert.equal(draftLength(own, shared, 0.5, 4, 0.5), 4);
  for (let v = 0; v < 20; v++) own.add(4, 0, 0.9);
  assert.equal(draftLength(own, shared, 0.5, 4, 0.5), 0);
  for (let v = 0; v < 60; v++) own.add(4, 4, 0.9);
  assert.equal(draftLength(own, shared, 0.5, 4, 0.5), 4);
});
