// The engine speaks chat: messages (and tools) go through the model's own chat template, the
// same rendering the server's /v1/chat/completions uses, and sampling fields left out take the
// model's defaults (its generation_config.json; the bundled demo model's are greedy).
//   node examples/chat.mjs [--model PATH]
import { fileURLToPath } from "node:url";
import { Engine, selectBackend } from "radixlm";

const i = process.argv.indexOf("--model");
const model = i > 0 ? process.argv[i + 1] : fileURLToPath(new URL("../models/demo/radixlm-demo-q8_0.gguf", import.meta.url));
const engine = await Engine.create({ model, backend: selectBackend("auto"), maxTotalTokens: 4096 });
console.log("model defaults:", engine.generationDefaults);

const messages = [
  { role: "system", content: "You are a friendly assistant." },
  { role: "user", content: "Tell me a story about a cat." },
];
for await (const ev of engine.generate({ messages, params: { maxNewTokens: 96 } })) process.stdout.write(ev.text);
process.stdout.write("\n");

// Tools are shown to the model by its template; a second turn reuses the first one's KV.
const tools = [{ type: "function", function: { name: "get_time", description: "The time now", parameters: { type: "object", properties: {} } } }];
const r = await engine.complete({ messages: [...messages, { role: "assistant", content: "Once upon a time..." }, { role: "user", content: "Thanks!" }], tools });
console.log(r.samples[0].text, `[${r.usage.cachedTokens} of ${r.usage.promptTokens} prompt tokens cached]`);
await engine.close();
