import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { RoleRenderer, type Role } from "../../src/lang/roles.js";
import { program, type LangBackend } from "../../src/lang/index.js";
import { ChatTemplate, CHATML_TEMPLATE, type ChatMessage } from "../../src/tokenizer/chat-template.js";
import { SHARED_TESTDATA } from "../helpers/models.js";

const templateDir = join(SHARED_TESTDATA, "chat-templates");
const tokens = { bosToken: "<BOS>", eosToken: "<EOS>" };

/**
 * The text a program writes turn by turn: each role's prefix, its content, its suffix; a
 * whole-conversation template's turn starts over from the text it gives.
 */
function turnByTurn(r: RoleRenderer, conversation: readonly ChatMessage[]): string {
  let text = "";
  const history: ChatMessage[] = [];
  for (const m of conversation) {
    const t = r.roleText(m.role as Role, history);
    if (t.text !== undefined) text = t.text;
    text += t.prefix + String(m.content) + t.suffix;
    history.push(m);
  }
  return text;
}

const withSystem: ChatMessage[] = [
  { role: "system", content: "You are brief." },
  { role: "user", content: "Name a colour." },
  { role: "assistant", content: "Blue." },
  { role: "user", content: "Another?" },
  { role: "assistant", content: "Green, of course." },
];

test("role turns written one by one give the text the template renders for the whole conversation (ChatML)", () => {
  const r = new RoleRenderer({ chatTemplate: CHATML_TEMPLATE, addsBos: false });
  assert.equal(turnByTurn(r, withSystem), new ChatTemplate(CHATML_TEMPLATE).render(withSystem));
  assert.deepEqual(r.roleText("user", []), { prefix: "<|im_start|>user\n", suffix: "<|im_end|>\n" });
});

/**
 * Templates a program cannot write turn by turn, written by whole conversations: a trailer
 * after the last turn that depends on the turns (a tool-use instruction turn, a generation
 * prompt written whatever add_generation_prompt says), or a system turn shown inside the last
 * user turn (Mistral Nemo).
 */
const WHOLE = new Set([
  "CohereForAI-c4ai-command-r-plus-tool_use.jinja",
  "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja",
  "fireworks-ai-llama-3-firefunction-v2.jinja",
  "mistralai-Mistral-Nemo-Instruct-2407.jinja",
]);

const trailers: Record<string, string> = { "microsoft-Phi-3.5-mini-instruct.jinja": "<EOS>" };

test("role turns match real templates' whole-conversation renders", { skip: existsSync(templateDir) ? false : `no chat templates at ${templateDir} (the shared test data is absent)` }, () => {
  const files = readdirSync(templateDir).filter((f) => f.endsWith(".jinja"));
  assert.ok(files.length > 10);
  const checked: string[] = [];
  for (const file of files) {
    const source = readFileSync(join(templateDir, file), "utf8");
    const now = new Date();
    const whole = new ChatTemplate(source, tokens);
    // Templates without a system role (Gemma) take the conversation without it. Whole-conversation
    // templates end it with a user turn: an assistant turn opens with the generation prompt,
    // which may not be what a past answer looks like (see the next test).
    const conversation = file.includes("gemma") ? withSystem.slice(1) : WHOLE.has(file) ? withSystem.slice(0, 4) : withSystem;
    const r = new RoleRenderer({ chatTemplate: source, addsBos: false, ...tokens }, now);
    assert.equal(r.wholeConversations, WHOLE.has(file), file);
    // By turns, a fixed trailer after the last turn (Phi-3.5's EOS) is left out: the prompt goes
    // on. By whole conversations, the text is the template's render, all of it.
    const trailer = WHOLE.has(file) ? "" : trailers[file] ?? "";
    const rendered = whole.render(conversation, { now });
    assert.ok(rendered.endsWith(trailer));
    assert.equal(turnByTurn(r, conversation), rendered.slice(0, rendered.length - trailer.length), file);
    checked.push(file);
  }
  assert.ok(checked.length >= 17, `checked ${checked.join(", ")}`);
});

test("whole-conversation templates: each turn opens with the render of the conversation so far", { skip: existsSync(templateDir) ? false : "no shared chat templates" }, () => {
  const renderer = (file: string): RoleRenderer => new RoleRenderer({ chatTemplate: readFileSync(join(templateDir, file), "utf8"), addsBos: false, ...tokens });
  const open = (r: RoleRenderer, role: Role, history: readonly ChatMessage[]): string => {
    const t = r.roleText(role, history);
    return t.text ?? t.prefix;
  };
  // Mistral Nemo: the system turn is held (no gen inside it) and shows in the last user turn, wherever that is.
  const nemo = renderer("mistralai-Mistral-Nemo-Instruct-2407.jinja");
  assert.deepEqual(nemo.roleText("system", []), { prefix: "", suffix: "", hidden: true });
  assert.equal(open(nemo, "user", withSystem.slice(0, 1)), "<BOS>[INST]You are brief.\n\n");
  // (The template shows the system message only when a user turn is last: an answer is prompted with it.)
  assert.deepEqual(nemo.roleText("assistant", withSystem.slice(0, 2)), { prefix: "", text: "<BOS>[INST]You are brief.\n\nName a colour.[/INST]", suffix: "<EOS>" });
  assert.equal(open(nemo, "user", withSystem.slice(0, 3)), "<BOS>[INST]Name a colour.[/INST]Blue.<EOS>[INST]You are brief.\n\n");
  // Firefunction: the assistant header it always writes opens the assistant turn.
  const fire = renderer("fireworks-ai-llama-3-firefunction-v2.jinja");
  const fireText = open(fire, "assistant", withSystem.slice(0, 2));
  assert.match(fireText, /^<BOS><\|start_header_id\|>system<\|end_header_id\|>\n\nYou are brief\.\n/);
  assert.ok(fireText.endsWith("Name a colour.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"), fireText.slice(-120));
  // Command R+: the tool-use instruction turn follows the conversation so far, never an earlier turn.
  const plus = renderer("CohereForAI-c4ai-command-r-plus-tool_use.jinja");
  const plusAnswer = plus.roleText("assistant", withSystem.slice(0, 2)).text!;
  assert.match(plusAnswer, /Name a colour\.<\|END_OF_TURN_TOKEN\|><\|START_OF_TURN_TOKEN\|><\|SYSTEM_TOKEN\|>Write 'Action:'[^]*<\|START_OF_TURN_TOKEN\|><\|CHATBOT_TOKEN\|>$/);
  const userTurn = plus.roleText("user", withSystem.slice(0, 3));
  assert.ok(userTurn.text!.endsWith("Blue.<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>"));
  assert.equal(userTurn.text!.match(/Write 'Action:'/g), null);
  assert.match(userTurn.suffix, /^<\|END_OF_TURN_TOKEN\|><\|START_OF_TURN_TOKEN\|><\|SYSTEM_TOKEN\|>Write 'Action:'/);
  // Command R7B: an assistant turn's content goes inside its response tags.
  const r7b = renderer("CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja");
  const answer = r7b.roleText("assistant", withSystem.slice(0, 2));
  assert.ok(answer.text!.endsWith("<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>"), answer.text!.slice(-80));
  assert.ok(answer.suffix.startsWith("<|END_RESPONSE|><|END_OF_TURN_TOKEN|>"));
});

test("a template's BOS is dropped when the tokenizer writes BOS itself", { skip: existsSync(templateDir) ? false : "no shared chat templates" }, () => {
  const source = readFileSync(join(templateDir, "meta-llama-Llama-3.1-8B-Instruct.jinja"), "utf8");
  const llama = { bosToken: "<|begin_of_text|>", eosToken: "<|eot_id|>" };
  const rendered = new ChatTemplate(source, llama).render(withSystem);
  assert.ok(rendered.startsWith("<|begin_of_text|><|start_header_id|>system"));
  const r = new RoleRenderer({ chatTemplate: source, addsBos: true, ...llama });
  assert.equal(turnByTurn(r, withSystem), rendered.slice("<|begin_of_text|>".length));
});

test("a template that rejects a turn, or shows no content, is a clear error", () => {
  const alternate = "{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('roles must alternate') }}{% endif %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}";
  const r = new RoleRenderer({ chatTemplate: alternate, addsBos: false });
  assert.deepEqual(r.roleText("user", []), { prefix: "[user]", suffix: "" });
  assert.throws(() => r.roleText("user", [{ role: "user", content: "a" }]), /the chat template rejects a user turn here: roles must alternate/);
  const blind = new RoleRenderer({ chatTemplate: "{% for m in messages %}[{{ m['role'] }}]{% endfor %}", addsBos: false });
  assert.throws(() => blind.roleText("user", []), /does not show a user turn's content once/);
  assert.throws(() => new RoleRenderer({ chatTemplate: null, addsBos: false, chatTemplateMissing: "no template here" }), /no template here/);
  assert.throws(() => new RoleRenderer({ chatTemplate: "{% for %}", addsBos: false }), /the model's chat template does not parse/);
});

/** A backend that answers every gen with "ok" and records the prompts it was given. */
function recordingBackend(chatTemplate: string): LangBackend & { prompts: string[] } {
  const prompts: string[] = [];
  const usage = { promptTokens: 1, cachedTokens: 0, completionTokens: 1 };
  return {
    name: "recording backend",
    prompts,
    modelFacts: async () => ({ chatTemplate, addsBos: true, bosToken: "<s>", eosToken: "</s>" }),
    async *generate(req) {
      prompts.push(req.text);
      yield { type: "text", text: "ok" };
      yield { type: "finish", reason: "stop", usage };
    },
    cachePrefix: async () => usage,
    scoreContinuations: async (_prefix, options) => options.map(() => ({ logprob: -1, tokens: 1, usage })),
  };
}

// Mistral Nemo's pattern: the system message shows inside the user turn only when that turn is last.
const NEMO_LIKE = "{%- if messages[0].role == 'system' %}{% set sys = messages[0].content %}{% set msgs = messages[1:] %}{% else %}{% set msgs = messages %}{% endif %}"
  + "{{ bos_token }}{% for m in msgs %}{% if m.role == 'user' %}[INST]{% if loop.last and sys is defined %}{{ sys }}\n\n{% endif %}{{ m.content }}[/INST]"
  + "{% elif m.role == 'assistant' %}{{ m.content }}{{ eos_token }}{% else %}{{ raise_exception('no such role') }}{% endif %}{% endfor %}";

test("a program on a whole-conversation template: each gen's prompt is the template's render, free text and gens in a held turn are refused", async () => {
  const backend = recordingBackend(NEMO_LIKE);
  const chat = program(async (s) => {
    s.system("Be brief.");
    s.user("Name a colour.");
    await s.assistant(async (a) => {
      await a.gen("first");
    });
    s.user("Another?");
    await s.assistant(async (a) => {
      a.append("Sure: ");
      await a.gen("second");
    });
  });
  const r = await chat.run(undefined, { backend });
  assert.deepEqual(backend.prompts, [
    "[INST]Be brief.\n\nName a colour.[/INST]",
    "[INST]Name a colour.[/INST]ok</s>[INST]Be brief.\n\nAnother?[/INST]Sure: ",
  ]);
  assert.equal(r.text, "[INST]Name a colour.[/INST]ok</s>[INST]Be brief.\n\nAnother?[/INST]Sure: ok</s>");
  assert.deepEqual(r.messages.map((m) => m.content), ["Be brief.", "Name a colour.", "ok", "Another?", "Sure: ok"]);

  const freeText = program(async (s) => {
    s.user("Hi");
    s.append("free text");
    s.assistant("Hello");
  });
  await assert.rejects(freeText.run(undefined, { backend }), /text written outside a turn cannot be kept/);
  const genInSystem = program(async (s) => {
    await s.system(async (x) => {
      await x.gen("nope");
    });
  });
  await assert.rejects(genInSystem.run(undefined, { backend }), /shows a system turn only once the next turn is added/);
  // A by-turn template keeps free text as before.
  const byTurn = recordingBackend(CHATML_TEMPLATE);
  const ok = await program(async (s) => {
    s.user("Hi");
    s.append("free text");
    await s.assistant(async (a) => {
      await a.gen("x");
    });
  }).run(undefined, { backend: byTurn });
  assert.ok(ok.text.includes("<|im_end|>\nfree text<|im_start|>assistant\n"), ok.text);
});
