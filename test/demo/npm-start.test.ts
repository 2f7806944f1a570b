// `npm start`: the real npm script starts `radixlm serve` on the bundled model, prints a ready
// line and a curl example, and answers a chat completion from the real OpenAI client; and
// `radixlm generate` without --model uses the bundled model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import readline from "node:readline";
import OpenAI from "openai";
import { DEMO_MODEL_NAME } from "../../src/cli/default-model.js";
import { cli } from "../helpers/cli.js";

const T = { timeout: 180_000 };

test("npm start serves the demo model and answers a chat completion", T, async () => {
  // Port 0: any free port; the ready line says which. Own process group, so the whole tree stops.
  const child = spawn("npm", ["start", "--silent", "--", "--port", "0"], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    const lines = readline.createInterface({ input: child.stdout });
    let url = "";
    let curl = "";
    for await (const line of lines) {
      const m = /^radixlm: serving (\S+) at (http:\/\/127\.0\.0\.1:\d+) /.exec(line);
      if (m) {
        assert.equal(m[1], DEMO_MODEL_NAME);
        url = m[2]!;
      }
      if (line.startsWith("radixlm: try: curl ")) {
        curl = line;
        break;
      }
    }
    assert.ok(url, `no ready line; stderr: ${stderr}`);
    assert.match(curl, new RegExp(`curl -s ${url}/v1/chat/completions .*"model":"${DEMO_MODEL_NAME}"`));

    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0, timeout: 60_000 });
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), [DEMO_MODEL_NAME]);
    const r = await client.chat.completions.create({
      model: DEMO_MODEL_NAME, messages: [{ role: "user", content: "What color is the sky?" }], max_tokens: 64, temperature: 0,
    });
    const text = r.choices[0]!.message.content ?? "";
    assert.equal(r.choices[0]!.finish_reason, "stop", text);
    // Greedy on a fixed model: one plain English sentence about the sky's color.
    assert.match(text, /^[A-Z]\w* .*\bsky\b.*\bblue\b.*[.!]$/, text);
  } finally {
    process.kill(-child.pid!, "SIGTERM");
    await exited;
  }
});

test("radixlm generate without --model writes with the bundled model", T, () => {
  const r = cli(["generate", "--prompt", "Once upon a time,", "--max-tokens", "24"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ (there|in) /, r.stdout);
  assert.ok(r.stdout.split(/\s+/).length > 10, r.stdout);
});
