import { test } from "node:test";
import assert from "node:assert/strict";
import { program, localEngine, endpoint, LangError, type LangBackend } from "../../src/lang/index.js";
import { model, start } from "../server/harness.js";
import { withEngine, words } from "./setup.js";

const person = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 12 },
    role: { enum: ["engineer", "teacher", "other"] },
    age: { type: "integer", minimum: 0, maximum: 120 },
  },
  required: ["name", "role", "age"],
  additionalProperties: false,
};

const extract = program(async (s, text: string) => {
  s.user(`${text} ${words(10)}`);
  await s.assistant(async (a) => {
    await a.gen("json", { jsonSchema: person, maxTokens: 96 });
  });
  s.append("\nA code: ");
  await s.gen("code", { regex: "[0-9]{3}-[a-z]{2}" });
  return JSON.parse(s.get("json")) as { name: string; role: string; age: number };
});

test("regex and jsonSchema constrain a gen, with the same output through localEngine and endpoint", async () => {
  const srv = await start();
  try {
    const template = (await model()).chatTemplate!;
    await withEngine(async (engine) => {
      const backends: LangBackend[] = [localEngine(engine), endpoint(srv.url, { chatTemplate: template })];
      const inputs = ["Aisha Bello is a 27-year-old engineer.", "Tom, 61, paints."];
      const [local, remote] = await Promise.all(backends.map((backend) => extract.runBatch(inputs, { backend })));
      for (let i = 0; i < inputs.length; i++) {
        const v = local![i]!.value;
        assert.equal(typeof v.name, "string");
        assert.ok(v.name.length <= 12);
        assert.ok(["engineer", "teacher", "other"].includes(v.role));
        assert.ok(Number.isInteger(v.age) && v.age >= 0 && v.age <= 120);
        assert.deepEqual(Object.keys(v).sort(), ["age", "name", "role"]);
        assert.match(local![i]!.vars.code!, /^[0-9]{3}-[a-z]{2}$/);
        assert.equal(remote![i]!.text, local![i]!.text);
        assert.deepEqual(remote![i]!.vars, local![i]!.vars);
      }
    });
  } finally {
    await srv.close();
  }
});

test("a bad regex or schema, or both at once, fails the gen clearly on either backend", async () => {
  const srv = await start();
  try {
    for (const backend of [localEngine(srv.engine), endpoint(srv.url)]) {
      const bad = (options: Parameters<import("../../src/lang/index.js").ProgramState["gen"]>[1]) => program(async (s) => {
        s.append("x: ");
        await s.gen("x", options);
      }).run(undefined, { backend });
      const says = (what: RegExp) => (e: unknown): boolean => e instanceof LangError && what.test(e.message);
      await assert.rejects(bad({ regex: "[0-9" }), says(/^gen "x" failed: (bad regex|.* answered \/generate with 400: Invalid 'sampling_params.regex'): the regex is not supported or not valid: .*Unclosed '\['/));
      await assert.rejects(bad({ jsonSchema: { type: "no-such-type" } }),
        says(/^gen "x" failed: (bad jsonSchema|.* answered \/generate with 400: Invalid 'sampling_params.json_schema'): the JSON schema is not supported or not valid: Unsupported type "no-such-type"/));
      await assert.rejects(bad({ regex: "a", jsonSchema: { type: "string" } }), /give regex or jsonSchema, not both/);
    }
    assert.equal(srv.engine.stats().running, 0);
  } finally {
    await srv.close();
  }
});
