import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

import {
  CHATML_TEMPLATE, ChatTemplate, ChatTemplateError, defaultChatTemplate,
  type ChatMessage, type SpecialTokens, type ToolSpec,
} from "../../src/tokenizer/chat-template.js";

const templateDir = resolve("../shared/testdata/chat-templates");
const haveTemplates = existsSync(templateDir);
const missingData = `chat templates not found at ${templateDir} (the shared test data is absent)`;

const llama3: SpecialTokens = { bosToken: "<|begin_of_text|>", eosToken: "<|eot_id|>" };
const deepseek: SpecialTokens = { bosToken: "<｜begin▁of▁sentence｜>", eosToken: "<｜end▁of▁sentence｜>" };
const llama3Prompt = "<|start_header_id|>assistant<|end_header_id|>\n\n";

/** What each real template is expected to do, read off its source. */
interface Expectation {
  tokens: SpecialTokens;
  /** The plain conversation's render starts with this. */
  start: string;
  /** The render ends with this when add_generation_prompt is true. */
  prompt: string;
  /** The template ends every render with `prompt`, whatever add_generation_prompt says. */
  alwaysPrompts?: true;
  /** The template accepts tools and tool-call turns. */
  tools: boolean;
  /** The end of a render whose last turn is a tool result, where it differs from `prompt`. */
  afterToolResult?: string;
  /** The message the template raises on a system turn; HF lets the error through, so do we. */
  rejectsSystem?: string;
}

const expectations: Record<string, Expectation> = {
  "CohereForAI-c4ai-command-r-plus-tool_use.jinja": {
    tokens: { bosToken: "<BOS_TOKEN>", eosToken: "<|END_OF_TURN_TOKEN|>" },
    start: "<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>",
    prompt: "<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>", tools: true,
  },
  "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja": {
    tokens: { bosToken: "<BOS_TOKEN>", eosToken: "<|END_OF_TURN_TOKEN|>" },
    start: "<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>",
    prompt: "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>", alwaysPrompts: true, tools: true,
  },
  "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja": {
    tokens: { bosToken: "<|begin_of_text|>", eosToken: "<|im_end|>" },
    start: "<|begin_of_text|><|im_start|>system\n", prompt: "<|im_start|>assistant\n", tools: true,
  },
  "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": {
    tokens: { bosToken: "<|begin_of_text|>", eosToken: "<|im_end|>" },
    start: "<|begin_of_text|><|im_start|>system\n", prompt: "<|im_start|>assistant\n", tools: true,
  },
  "Qwen-Qwen2.5-7B-Instruct.jinja": {
    tokens: { eosToken: "<|im_end|>" },
    start: "<|im_start|>system\n", prompt: "<|im_end|>\n<|im_start|>assistant\n", tools: true,
  },
  "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja": {
    tokens: deepseek, start: `${deepseek.bosToken}You are`, prompt: "<｜Assistant｜><think>\n", tools: false,
  },
  "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": {
    tokens: deepseek, start: `${deepseek.bosToken}You are`, prompt: "<｜Assistant｜><think>\n", tools: false,
  },
  "llama-cpp-deepseek-r1.jinja": {
    tokens: deepseek, start: `${deepseek.bosToken}You are`, prompt: "<｜Assistant｜><think>\n", tools: true,
  },
  "fireworks-ai-llama-3-firefunction-v2.jinja": {
    tokens: llama3, start: "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n",
    prompt: `<|eot_id|>${llama3Prompt}`, alwaysPrompts: true, tools: true,
  },
  "google-gemma-2-2b-it.jinja": {
    tokens: { bosToken: "<bos>", eosToken: "<eos>" },
    start: "<bos><start_of_turn>user\n", prompt: "<end_of_turn>\n<start_of_turn>model\n", tools: false,
    rejectsSystem: "System role not supported",
  },
  "meetkai-functionary-medium-v3.1.jinja": {
    tokens: llama3, start: "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n",
    prompt: `<|eot_id|>${llama3Prompt}`, tools: true,
  },
  "meetkai-functionary-medium-v3.2.jinja": {
    tokens: llama3, start: "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n",
    prompt: `<|eot_id|>${llama3Prompt}>>>`, tools: true,
  },
  "meta-llama-Llama-3.1-8B-Instruct.jinja": {
    tokens: llama3, start: "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n",
    prompt: `<|eot_id|>${llama3Prompt}`, tools: true,
  },
  "meta-llama-Llama-3.2-3B-Instruct.jinja": {
    tokens: llama3, start: "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n",
    prompt: `<|eot_id|>${llama3Prompt}`, tools: true,
  },
  "meta-llama-Llama-3.3-70B-Instruct.jinja": {
    tokens: llama3, start: "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n",
    prompt: `<|eot_id|>${llama3Prompt}`, tools: true,
  },
  "microsoft-Phi-3.5-mini-instruct.jinja": {
    tokens: { bosToken: "<s>", eosToken: "<|endoftext|>" },
    start: "<|system|>\n", prompt: "<|end|>\n<|assistant|>\n", tools: false,
  },
  // Mistral has no generation prompt: the prompt ends with the last user turn's [/INST].
  "mistralai-Mistral-Nemo-Instruct-2407.jinja": {
    tokens: { bosToken: "<s>", eosToken: "</s>" },
    start: "<s>[INST]", prompt: "[/INST]", alwaysPrompts: true, tools: true, afterToolResult: "[/TOOL_RESULTS]",
  },
};

const conversation: ChatMessage[] = [
  { role: "system", content: "You are a terse geography tutor." },
  { role: "user", content: "What is the capital of France?" },
  { role: "assistant", content: "Paris is the capital." },
  { role: "user", content: "And the capital of Italy?" },
];

const weatherTool: ToolSpec = {
  type: "function",
  function: {
    name: "get_current_weather",
    description: "Get the current weather in a city",
    parameters: {
      type: "object",
      properties: {
        location: { type: "string", description: "The city, e.g. Paris" },
        unit: { type: "string", enum: ["celsius", "fahrenheit"], description: "Temperature unit" },
      },
      required: ["location"],
    },
  },
};

/** A tool-call round trip; the id is 9 alphanumerics because Mistral insists. */
function toolConversation(args: string | Record<string, unknown>): ChatMessage[] {
  return [
    { role: "system", content: "You are a weather assistant." },
    { role: "user", content: "What's the weather like in Paris?" },
    {
      role: "assistant", content: null,
      tool_calls: [{ id: "a1b2c3d4e", type: "function", function: { name: "get_current_weather", arguments: args } }],
    },
    { role: "tool", tool_call_id: "a1b2c3d4e", content: '{"temperature": 21, "condition": "sunny"}' },
  ];
}

function templateFiles(): string[] {
  return haveTemplates ? readdirSync(templateDir).filter((f) => f.endsWith(".jinja")).sort() : [];
}

function load(file: string): ChatTemplate {
  const expected = expectations[file];
  assert.ok(expected, `no expectation for ${file}: read the template and add its markers to \`expectations\``);
  return new ChatTemplate(readFileSync(join(templateDir, file), "utf8"), expected.tokens);
}

function assertContains(out: string, needles: string[]): void {
  for (const needle of needles) assert.ok(out.includes(needle), `render lacks ${JSON.stringify(needle)}:\n${out}`);
}

describe("real chat templates", { skip: haveTemplates ? false : missingData }, () => {
  test("every template in the test data has an expectation", () => {
    assert.ok(templateFiles().length > 0, `no .jinja files in ${templateDir}`);
    assert.deepEqual(templateFiles().filter((f) => !(f in expectations)), []);
  });

  for (const file of templateFiles()) {
    const expected = expectations[file];

    test(`${file}: plain conversation`, () => {
      const template = load(file);
      assert.equal(template.capabilities.systemRole, expected?.rejectsSystem === undefined);
      // Templates that reject a system turn get the conversation without it, as HF callers must.
      const messages = expected?.rejectsSystem ? conversation.slice(1) : conversation;
      const out = template.render(messages, { addGenerationPrompt: true });
      assertContains(out, messages.map((m) => m.content as string));
      assert.ok(out.startsWith(expected!.start), `render starts ${JSON.stringify(out.slice(0, 80))}`);
      assert.ok(out.endsWith(expected!.prompt), `render ends ${JSON.stringify(out.slice(-80))}`);
      assert.ok(!out.includes("[object"), out);
    });

    if (expected?.rejectsSystem) {
      test(`${file}: a system turn raises the template's own error`, () => {
        const template = load(file);
        assert.throws(() => template.render(conversation, { addGenerationPrompt: true }),
          (err: unknown) => err instanceof ChatTemplateError && err.kind === "raised" && err.message === expected.rejectsSystem);
      });
    }

    test(`${file}: add_generation_prompt`, () => {
      const template = load(file);
      const messages = expected?.rejectsSystem ? conversation.slice(1) : conversation;
      const without = template.render(messages, { addGenerationPrompt: false });
      const withPrompt = template.render(messages, { addGenerationPrompt: true });
      if (expected?.alwaysPrompts) {
        assert.equal(without, withPrompt);
      } else {
        assert.notEqual(without, withPrompt);
        assert.ok(!without.endsWith(expected!.prompt), `render without the prompt ends ${JSON.stringify(without.slice(-80))}`);
      }
    });

    test(`${file}: capabilities`, () => {
      const caps = load(file).capabilities;
      assert.equal(caps.tools, expected?.tools, "tools");
      assert.equal(caps.stringContent, true, "stringContent");
      if (expected?.tools) assert.equal(caps.toolCalls, true, "toolCalls");
    });

    if (!expected?.tools) continue;

    test(`${file}: tools list`, () => {
      const out = load(file).render(toolConversation("{}").slice(0, 2), { addGenerationPrompt: true, tools: [weatherTool] });
      assertContains(out, ["get_current_weather", "location", "What's the weather like in Paris?"]);
      assert.ok(out.endsWith(expected.prompt), `render ends ${JSON.stringify(out.slice(-80))}`);
    });

    for (const [label, args] of [
      ["JSON-string arguments", '{"location": "Paris", "unit": "celsius"}'],
      ["object arguments", { location: "Paris", unit: "celsius" }],
    ] as const) {
      test(`${file}: tool-call turn with ${label}`, () => {
        const out = load(file).render(toolConversation(args), { addGenerationPrompt: true, tools: [weatherTool] });
        assertContains(out, ["get_current_weather", "Paris", "celsius", "sunny", "21"]);
        assert.ok(!out.includes("[object"), `arguments rendered as [object ...]:\n${out}`);
        assert.ok(!out.includes('\\"location\\"'), `arguments were JSON-encoded twice:\n${out}`);
        const end = expected.afterToolResult ?? expected.prompt;
        assert.ok(out.endsWith(end), `render ends ${JSON.stringify(out.slice(-80))}`);
      });
    }
  }

  test("gemma raises its alternation error as a ChatTemplateError", () => {
    const gemma = load("google-gemma-2-2b-it.jinja");
    assert.throws(() => gemma.render([{ role: "user", content: "a" }, { role: "user", content: "b" }]), {
      name: "ChatTemplateError", kind: "raised", message: "Conversation roles must alternate user/assistant/user/assistant/...",
    });
  });

  test("Mistral Nemo raises on a tool call id of the wrong length", () => {
    const mistral = load("mistralai-Mistral-Nemo-Instruct-2407.jinja");
    const messages = toolConversation("{}").map((m) => m.role === "tool" ? { ...m, tool_call_id: "short" } : m);
    assert.throws(() => mistral.render(messages), { kind: "raised", message: "Tool call IDs should be alphanumeric strings with length 9!" });
  });

  test("argument conventions are probed per template", () => {
    // Llama renders `arguments | tojson` (wants an object); functionary and DeepSeek concatenate strings.
    assert.equal(load("meta-llama-Llama-3.1-8B-Instruct.jinja").capabilities.objectArguments, true);
    assert.equal(load("meetkai-functionary-medium-v3.1.jinja").capabilities.objectArguments, false);
    assert.equal(load("deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja").capabilities.objectArguments, false);
    // DeepSeek tells tool-call turns apart by content being null; Command R+ trims content, so gets "".
    assert.equal(load("deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja").capabilities.nullContent, true);
    assert.equal(load("CohereForAI-c4ai-command-r-plus-tool_use.jinja").capabilities.nullContent, false);
    // Hermes loops over `tools` even without tools: it gets [] rather than undefined.
    assert.equal(load("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja").capabilities.toolsAlwaysList, true);
    assert.equal(load("meta-llama-Llama-3.1-8B-Instruct.jinja").capabilities.toolsAlwaysList, false);
  });

  test("arguments that are not JSON reach an object-arguments template as the raw string", () => {
    const out = load("meta-llama-Llama-3.1-8B-Instruct.jinja").render(toolConversation("not json at all"));
    assertContains(out, ['"parameters": "not json at all"']);
  });

  test("Llama 3.x gets today's date as date_string", () => {
    const now = new Date(Date.UTC(2025, 2, 5, 12));
    for (const file of ["meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.2-3B-Instruct.jinja"]) {
      assertContains(load(file).render(conversation, { now }), ["Today Date: 05 Mar 2025\n"]);
    }
    const fixed = load("meta-llama-Llama-3.1-8B-Instruct.jinja").render(conversation, { extra: { date_string: "26 Jul 2024" } });
    assertContains(fixed, ["Today Date: 26 Jul 2024\n"]);
  });

  test("Llama 3.1 takes custom_tools and tools_in_user_message from extra", () => {
    const llama = load("meta-llama-Llama-3.1-8B-Instruct.jinja");
    const inSystem = llama.render(conversation, { tools: [weatherTool], extra: { tools_in_user_message: false } });
    const system = inSystem.slice(0, inSystem.indexOf("<|eot_id|>"));
    assertContains(system, ["get_current_weather", "You are a terse geography tutor."]);
    const custom = llama.render(conversation, { extra: { custom_tools: [weatherTool] } });
    assertContains(custom, ["Environment: ipython", "get_current_weather"]);
  });

  test("Firefunction gets the tools as `functions` and the time as `datetime`", () => {
    const now = new Date(Date.UTC(2025, 2, 5, 13, 4, 5));
    const out = load("fireworks-ai-llama-3-firefunction-v2.jinja").render(conversation, { tools: [weatherTool], now });
    assertContains(out, ['"name": "get_current_weather"', "Today is Mar 05 2025 13:04:05 GMT."]);
  });
});

describe("ChatTemplate", () => {
  const echo = "{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}{% if add_generation_prompt %}>{% endif %}";

  test("special tokens are template variables", () => {
    const template = new ChatTemplate("{{ bos_token }}|{{ eos_token }}|{{ unk_token }}|{{ pad_token is defined }}",
      { bosToken: "<s>", eosToken: "</s>", unkToken: "<unk>" });
    assert.equal(template.render([]), "<s>|</s>|<unk>|false");
    assert.equal(new ChatTemplate("{{ bos_token + 'x' + eos_token }}").render([]), "x");
  });

  test("messages and add_generation_prompt", () => {
    const template = new ChatTemplate(echo);
    const messages: ChatMessage[] = [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }];
    assert.equal(template.render(messages), "[user:hi][assistant:hello]");
    assert.equal(template.render(messages, { addGenerationPrompt: true }), "[user:hi][assistant:hello]>");
  });

  test("only the message keys that are set reach the template", () => {
    const template = new ChatTemplate("{% for m in messages %}{{ 'tool_calls' in m }},{{ m.name is defined }},{{ m.tool_call_id }};{% endfor %}");
    const out = template.render([
      { role: "user", content: "a", name: "bob" },
      { role: "assistant", content: "b", tool_calls: [] },
      { role: "tool", content: "c", tool_call_id: "x1" },
    ]);
    assert.equal(out, "false,true,;false,false,;false,false,x1;");
  });

  test("text parts are joined for string-only templates", () => {
    const template = new ChatTemplate(echo);
    assert.equal(template.capabilities.typedContent, false);
    const out = template.render([{ role: "user", content: [{ type: "text", text: "first" }, { type: "text", text: "second" }] }]);
    assert.equal(out, "[user:first\nsecond]");
    assert.throws(() => template.render([{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }]),
      { kind: "input", message: /"image_url" content part/ });
  });

  test("templates that take part lists get the parts, and strings become parts when they must", () => {
    const template = new ChatTemplate("{% for m in messages %}{% for p in m.content %}<{{ p.type }}:{{ p.text }}>{% endfor %}{% endfor %}");
    assert.equal(template.capabilities.typedContent, true);
    assert.equal(template.capabilities.stringContent, false);
    assert.equal(template.render([{ role: "user", content: [{ type: "text", text: "a" }, { type: "image_url", image_url: { url: "u" } }] }]),
      "<text:a><image_url:>");
    assert.equal(template.render([{ role: "user", content: "plain" }]), "<text:plain>");
  });

  test("null content becomes \"\" for templates that cannot take null", () => {
    const template = new ChatTemplate("{% for m in messages %}{{ m.content | trim }}{% if m.tool_calls is defined %}{{ m.tool_calls[0].function.arguments | tojson }}{% endif %};{% endfor %}");
    assert.equal(template.capabilities.nullContent, false);
    const out = template.render([{ role: "assistant", content: null, tool_calls: [{ type: "function", function: { name: "f", arguments: '{"a": 1}' } }] }]);
    assert.equal(out, '{"a": 1};');
  });

  test("object arguments are serialized for templates that concatenate strings", () => {
    const template = new ChatTemplate("{% for m in messages %}{{ m.content }}{% if m.tool_calls is defined %}{% for c in m.tool_calls %}<{{ c.function.name + ':' + c.function.arguments }}>{% endfor %}{% endif %}{% endfor %}");
    assert.equal(template.capabilities.objectArguments, false);
    const out = template.render([{ role: "assistant", content: null, tool_calls: [{ type: "function", function: { name: "f", arguments: { a: 1 } } }] }]);
    assert.equal(out, '<f:{"a":1}>');
  });

  test("extra variables reach the template; the reserved ones are refused", () => {
    const template = new ChatTemplate("{% if enable_thinking is defined and not enable_thinking %}<think></think>{% endif %}ok");
    assert.equal(template.render([], { extra: { enable_thinking: false } }), "<think></think>ok");
    assert.equal(template.render([]), "ok");
    assert.throws(() => template.render([], { extra: { messages: [] } }), { kind: "input", message: /"messages" is reserved/ });
  });

  test("tools: undefined without tools, the list with them, and an empty list counts as none", () => {
    const template = new ChatTemplate("{% if tools is defined %}{{ tools | map(attribute='function') | map(attribute='name') | join(',') }}{% else %}none{% endif %}");
    assert.equal(template.render([]), "none");
    assert.equal(template.render([], { tools: [] }), "none");
    assert.equal(template.render([], { tools: [weatherTool] }), "get_current_weather");
  });

  test("strftime_now formats the given clock like Python's strftime", () => {
    const template = new ChatTemplate("{{ strftime_now('%A %a %d %B %b %Y %y %H:%M:%S %I%p %j %%') }}");
    const now = new Date(2025, 2, 5, 21, 7, 9); // local time, as Python's datetime.now()
    assert.equal(template.render([], { now }), "Wednesday Wed 05 March Mar 2025 25 21:07:09 09PM 064 %");
  });

  test("raise_exception throws a ChatTemplateError carrying the template's message", () => {
    const template = new ChatTemplate("{% if messages[0].role != 'user' %}{{ raise_exception('First message must be from the user, not ' + messages[0].role) }}{% endif %}");
    assert.throws(() => template.render([{ role: "assistant", content: "x" }]),
      (err: unknown) => err instanceof ChatTemplateError && err.kind === "raised" && err.message === "First message must be from the user, not assistant");
  });

  test("runtime failures are ChatTemplateErrors too", () => {
    assert.throws(() => new ChatTemplate("{{ 'a' + nothing }}").render([]),
      { name: "ChatTemplateError", kind: "render", message: /^chat template failed to render: / });
  });

  test("tuple literals unpack in for loops and set", () => {
    const template = new ChatTemplate("{% for a, b in [('x', 'X'), ('y', 'Y')] %}{{ a }}={{ b }};{% endfor %}{% set p, q = (1, 2) %}{{ p + q }}");
    assert.equal(template.render([]), "x=X;y=Y;3");
  });

  test("a broken template source gives a one-line parse error", () => {
    for (const source of ["{% if messages %}never closed", "{{ messages[0] }", "{% for m in messages %}{% endif %}", "{{ a b }}"]) {
      assert.throws(() => new ChatTemplate(source), (err: unknown) => {
        assert.ok(err instanceof ChatTemplateError, String(err));
        assert.equal(err.kind, "parse");
        assert.match(err.message, /^chat template failed to parse: \S/);
        assert.ok(!err.message.includes("\n"), err.message);
        return true;
      }, source);
    }
  });
});

describe("defaultChatTemplate (ChatML)", () => {
  const chatml = defaultChatTemplate();

  test("renders ChatML turns and the generation prompt", () => {
    assert.equal(chatml.source, CHATML_TEMPLATE);
    const messages: ChatMessage[] = [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi!" }];
    assert.equal(chatml.render(messages),
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n");
    assert.equal(chatml.render(messages, { addGenerationPrompt: true }),
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n");
  });

  test("renders tools, tool calls and tool results", () => {
    const caps = chatml.capabilities;
    assert.ok(caps.systemRole && caps.tools && caps.toolCalls && caps.objectArguments && caps.nullContent);
    const out = chatml.render(toolConversation('{"location": "Paris"}'), { addGenerationPrompt: true, tools: [weatherTool] });
    assert.ok(out.startsWith("<|im_start|>system\nYou are a weather assistant.\n\n# Tools\n"), out);
    assertContains(out, [
      '"name": "get_current_weather"',
      '<|im_start|>assistant\n<tool_call>\n{"name": "get_current_weather", "arguments": {"location": "Paris"}}\n</tool_call><|im_end|>\n',
      '<|im_start|>tool\n{"temperature": 21, "condition": "sunny"}<|im_end|>\n',
    ]);
    assert.ok(out.endsWith("<|im_end|>\n<|im_start|>assistant\n"));
    assert.equal(out.split("You are a weather assistant.").length, 2, "the system turn is shown once");
  });
});
