import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { RoleRenderer, type Role } from "../../src/lang/roles.js";
import { ChatTemplate, CHATML_TEMPLATE, type ChatMessage } from "../../src/tokenizer/chat-template.js";
import { SHARED_TESTDATA } from "../helpers/models.js";

const templateDir = join(SHARED_TESTDATA, "chat-templates");
const tokens = { bosToken: "<BOS>", eosToken: "<EOS>" };

/** The text a program writes turn by turn: each role's prefix, its content, its suffix. */
function turnByTurn(r: RoleRenderer, conversation: readonly ChatMessage[]): string {
  let text = "";
  const history: ChatMessage[] = [];
  for (const m of conversation) {
    const { prefix, suffix } = r.roleText(m.role as Role, history);
    text += prefix + String(m.content) + suffix;
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
 * Templates a program cannot write turn by turn: a trailer after the last turn that depends
 * on the turns (a tool-use instruction, a generation prompt written whatever
 * add_generation_prompt says), or a system turn shown inside the last user turn (Mistral Nemo).
 */
const byTurnError = /does not render a conversation turn by turn/;
const unsupported: Record<string, RegExp> = {
  "CohereForAI-c4ai-command-r-plus-tool_use.jinja": byTurnError,
  "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja": byTurnError,
  "fireworks-ai-llama-3-firefunction-v2.jinja": byTurnError,
  "mistralai-Mistral-Nemo-Instruct-2407.jinja": /does not show a system turn's content once/,
};

const trailers: Record<string, string> = { "microsoft-Phi-3.5-mini-instruct.jinja": "<EOS>" };

test("role turns match real templates' whole-conversation renders", { skip: existsSync(templateDir) ? false : `no chat templates at ${templateDir} (the shared test data is absent)` }, () => {
  const files = readdirSync(templateDir).filter((f) => f.endsWith(".jinja"));
  assert.ok(files.length > 10);
  const checked: string[] = [];
  for (const file of files) {
    const source = readFileSync(join(templateDir, file), "utf8");
    const whole = new ChatTemplate(source, tokens);
    // Templates without a system role (Gemma) take the conversation without it.
    const conversation = file.includes("gemma") ? withSystem.slice(1) : withSystem;
    const r = new RoleRenderer({ chatTemplate: source, addsBos: false, ...tokens });
    const refused = unsupported[file];
    if (refused) {
      // Refused clearly rather than rendered wrong.
      assert.throws(() => turnByTurn(r, conversation), refused, file);
      continue;
    }
    // A fixed trailer after the last turn (Phi-3.5's EOS) is left out: the prompt goes on.
    const trailer = trailers[file] ?? "";
    const rendered = whole.render(conversation);
    assert.ok(rendered.endsWith(trailer));
    assert.equal(turnByTurn(r, conversation), rendered.slice(0, rendered.length - trailer.length), file);
    checked.push(file);
  }
  assert.ok(checked.length >= 13, `checked ${checked.join(", ")}`);
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
