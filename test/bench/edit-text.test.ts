// The edit workload's requests: deterministic by seed, each reply the text with exactly the
// asked change, and, through the demo model's own chat template and tokenizer, prompts that
// fit its context with room for the reply.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EditGen, type EditRequest } from "../../src/bench/edit-text.js";
import { EDIT_OUTPUT_MARGIN, makeEditWorkload, templateRenderer } from "../../src/bench/edit-workload.js";
import { ChatRenderer } from "../../src/engine/chat.js";
import { loadModel } from "../../src/model/load.js";
import { defaultModelPath } from "../../src/cli/default-model.js";

const draw = (seed: number, n: number): EditRequest[] => {
  const g = new EditGen(seed);
  return Array.from({ length: n }, () => g.edit());
};
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

test("edit requests are the same for a seed and differ between seeds", () => {
  assert.deepEqual(draw(4, 20), draw(4, 20));
  const other = draw(5, 20);
  assert.ok(draw(4, 20).every((r, i) => r.user !== other[i]!.user));
});

test("every expected reply is the original text with only the asked change made", () => {
  const kinds = new Map<string, number>();
  for (const r of draw(11, 300)) {
    const { kind, from, to } = r.change;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    assert.notEqual(from, to);
    assert.notEqual(r.expected, r.text);
    // The instruction names both sides, and the message holds the text at its start or its end.
    assert.ok(r.user.includes(from) && r.user.includes(to), r.user);
    assert.ok(r.user.startsWith(r.text + "\n\n") || r.user.endsWith("\n\n" + r.text), r.user);
    if (kind === "sentence") {
      const at = r.text.indexOf(from);
      assert.ok(at >= 0 && !r.text.includes(to));
      assert.equal(r.expected, r.text.slice(0, at) + to + r.text.slice(at + from.length));
      continue;
    }
    // A word: every whole-word occurrence, and nothing else, changes; the words line up one to one.
    assert.match(from, /^\w+$/);
    const whole = new RegExp(`\\b${escape(from)}\\b`);
    assert.match(r.text, whole);
    assert.doesNotMatch(r.expected, whole);
    const a = r.text.split(/(\s+)/), b = r.expected.split(/(\s+)/);
    assert.equal(a.length, b.length);
    let changed = 0;
    for (let i = 0; i < a.length; i++) {
      if (a[i] === b[i]) continue;
      changed++;
      assert.match(a[i]!, whole, `"${a[i]}" changed but is not "${from}"`);
      assert.equal(b[i], a[i]!.replace(new RegExp(`\\b${escape(from)}\\b`, "g"), to));
    }
    assert.ok(changed >= 1);
  }
  // All four kinds of edit, as the demo model was trained on.
  assert.deepEqual([...kinds.keys()].sort(), ["color", "name", "number", "sentence"]);
});

test("texts are one story or two under 1,000 characters, plus the inserted sentences; or at least the asked tokens", () => {
  for (const r of draw(2, 100)) assert.ok(r.text.length < 1000 + 2 * 80, `${r.text.length} characters`);
  const words = (s: string): number => s.split(/\s+/).length;
  const g = new EditGen(2, { minTokens: 600, count: words });
  for (let i = 0; i < 5; i++) assert.ok(words(g.edit().text) >= 600);
});

test("the edit workload through the demo model's chat template fits its context, with room for the expected reply", async () => {
  const model = await loadModel(defaultModelPath());
  try {
    const tok = model.tokenizer;
    const chat = new ChatRenderer(model);
    const render = templateRenderer(model.chatTemplate, tok);
    const context = model.config.maxPositionEmbeddings;
    const w = makeEditWorkload({ requests: 24, seed: 3, textTokens: null }, tok, render, context);
    assert.equal(w.name, "edit");
    assert.equal(w.chains.length, 24);
    assert.deepEqual(makeEditWorkload({ requests: 24, seed: 3, textTokens: null }, tok, render, context), w);
    for (const [step] of w.chains) {
      const c = step!.chat!;
      // The prompt an engine `messages` input gets: the same renderer, the same ids.
      assert.equal(c.prompt, chat.render([{ role: "user", content: c.user }]));
      assert.deepEqual(step!.tokens, tok.encode(c.prompt, { addSpecial: false, parseSpecial: true }));
      assert.ok(c.prompt.startsWith("<|im_start|>user\n") && c.prompt.endsWith("<|im_start|>assistant\n"));
      assert.equal(step!.outputLen, tok.encode(c.expected).length + EDIT_OUTPUT_MARGIN);
      assert.ok(step!.tokens.length + step!.outputLen <= context);
    }
    // Texts asked longer than the context can hold are refused, saying so.
    assert.throws(() => makeEditWorkload({ requests: 1, seed: 3, textTokens: 400 }, tok, render, context), /do not fit the model's context of 512 tokens/);
    // A longer context takes them.
    const long = makeEditWorkload({ requests: 2, seed: 3, textTokens: 400 }, tok, render, 4096);
    for (const [step] of long.chains) assert.ok(tok.encode(step!.chat!.expected).length >= 400);
  } finally {
    model.close();
  }
});
