// The reasoning splitter: thinking between <think> and </think> goes to reasoning_content, the
// answer to content, whole or streamed in pieces of any size.
import { test } from "node:test";
import assert from "node:assert/strict";
import { promptOpensThinking, reasoningParserOf, ReasoningSplitter, splitReasoning } from "../../src/server/reasoning.js";
import { MODEL_NAME, start, withExtra } from "./harness.js";

function streamed(text: string, inside: boolean, size: number): { reasoning: string; content: string } {
  const s = new ReasoningSplitter(inside);
  let reasoning = "";
  let content = "";
  for (let i = 0; i < text.length; i += size) {
    const p = s.push(text.slice(i, i + size));
    reasoning += p.reasoning;
    content += p.content;
  }
  const p = s.finish();
  return { reasoning: reasoning + p.reasoning, content: content + p.content };
}

const CASES: [string, boolean, string | null, string][] = [
  ["<think>\nLet me add 2 and 2.\n</think>\n\nIt is 4.", false, "Let me add 2 and 2.", "It is 4."],
  // The template opened the thinking (DeepSeek-R1): no <think> in the output.
  ["2 + 2 is 4, surely.\n</think>\n\nFour.", true, "2 + 2 is 4, surely.", "Four."],
  // No thinking at all (Qwen3 with enable_thinking: false: the template closed it already).
  ["Just the answer.", false, null, "Just the answer."],
  // Cut off by max_tokens while thinking: all of it is reasoning.
  ["<think>\nHmm, first", false, "Hmm, first", ""],
  // Text that only begins like a tag is content.
  ["<thinking aloud> is not a tag", false, null, "<thinking aloud> is not a tag"],
  ["a < b </thin and more", true, "a < b </thin and more", ""],
];

test("whole outputs split into reasoning and content", () => {
  for (const [text, inside, reasoning, content] of CASES) {
    assert.deepEqual(splitReasoning(text, inside), { reasoning, content }, text);
  }
});

test("streamed in pieces of every size, the same reasoning and content come out (tags cut anywhere)", () => {
  for (const [text, inside, reasoning, content] of CASES) {
    for (let size = 1; size <= text.length; size++) {
      const got = streamed(text, inside, size);
      assert.equal(got.reasoning.trim(), reasoning ?? "", `${JSON.stringify(text)} in pieces of ${size}`);
      assert.equal(got.content, content, `${JSON.stringify(text)} in pieces of ${size}`);
    }
  }
});

test("the template says where the thinking starts and whether the model thinks at all", () => {
  assert.equal(promptOpensThinking("<|im_start|>assistant\n<think>\n"), true);
  assert.equal(promptOpensThinking("<|im_start|>assistant\n"), false);
  assert.equal(promptOpensThinking("<|im_start|>assistant\n<think>\n\n</think>\n\n"), false);
  assert.equal(reasoningParserOf("{{ '<think>\\n' }} ... {{ '</think>' }}"), "qwen3");
  assert.equal(reasoningParserOf("{{ messages }}"), null);
});

// Through the real server: the output is pinned by a regex (a random-weight model thinks
// nothing of its own), and the parser splits what comes out.
test("a chat answer's thinking arrives as reasoning_content, whole and streamed, with the openai client; without the parser it stays in content", { timeout: 120_000 }, async () => {
  const on = await start({}, { reasoningParser: "qwen3" });
  const off = await start({}, { reasoningParser: "none" });
  try {
    const pinned = "<think>\\nLet me see\\.\\n</think>\\n\\nBlue\\.";
    const body = withExtra({ model: MODEL_NAME, messages: [{ role: "user" as const, content: "Sky?" }], max_tokens: 40, temperature: 0 }, { regex: pinned });
    const whole = await on.client.chat.completions.create(body);
    const m = whole.choices[0]!.message as unknown as Record<string, unknown>;
    assert.equal(m.reasoning_content, "Let me see.");
    assert.equal(m.content, "Blue.");
    const stream = await on.client.chat.completions.create({ ...body, stream: true });
    let reasoning = "";
    let content = "";
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta as Record<string, unknown> | undefined;
      if (typeof d?.reasoning_content === "string") reasoning += d.reasoning_content;
      if (typeof d?.content === "string") content += d.content;
    }
    assert.equal(reasoning.trim(), "Let me see.");
    assert.equal(content, "Blue.");
    const plain = await off.client.chat.completions.create(body);
    assert.equal(plain.choices[0]!.message.content, "<think>\nLet me see.\n</think>\n\nBlue.");
    assert.equal((plain.choices[0]!.message as unknown as Record<string, unknown>).reasoning_content, undefined);
  } finally {
    await on.close();
    await off.close();
  }
});
