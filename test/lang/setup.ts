// Engines for the language tests: the server tests' tiny model (ChatML template, byte-level
// BPE), on the native backend when the addon loads.
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import { ChatTemplate } from "../../src/tokenizer/chat-template.js";
import { backend, model } from "../server/harness.js";

export async function withEngine<T>(fn: (e: Engine) => Promise<T>, opts: Partial<Omit<EngineOptions, "model">> = {}): Promise<T> {
  const e = await Engine.create({ model: await model(), backend: backend(), maxTotalTokens: 8192, checkInvariants: true, ...opts });
  try {
    return await fn(e);
  } finally {
    await e.close();
  }
}

/** The test model's own chat template. */
export async function template(): Promise<ChatTemplate> {
  const m = await model();
  return new ChatTemplate(m.chatTemplate!, {});
}

/** Some words to make prompts long enough for the cache to matter. */
export function words(n: number, seed = 1): string {
  const vocab = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"];
  const out: string[] = [];
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(vocab[x % vocab.length]!);
  }
  return out.join(" ");
}
