// JSON extraction with a schema: one gen per document, constrained to the schema (structured
// generation), so the output always parses and has the fields and types asked for. Every
// document shares the instructions, which the cache serves after the first request.
//
//   node examples/json-extraction.mjs [--model PATH] [--no-cache] [--endpoint URL]
import { program } from "radixlm/lang";
import { setup, show, totalUsage } from "./setup.mjs";

const schema = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 24 },
    city: { type: "string", maxLength: 24 },
    role: { enum: ["engineer", "teacher", "doctor", "artist", "other"] },
    age: { type: "integer", minimum: 0, maximum: 130 },
  },
  required: ["name", "city", "role", "age"],
  additionalProperties: false,
};

const documents = [
  "Maria Lopez, 34, has taught mathematics in Seville for ten years.",
  "Dr. Kenji Sato (52) runs the cardiology ward of a hospital in Osaka.",
  "Aisha Bello is a 27-year-old software engineer living in Lagos.",
  "Painter Tom Eriksen, aged 61, keeps a small studio in Bergen.",
];

const extract = program(async (s, document) => {
  s.system(`Extract the person in the text as JSON with the fields ${Object.keys(schema.properties).join(", ")}.`);
  s.user(document);
  await s.assistant(async (a) => {
    await a.gen("json", { jsonSchema: schema, maxTokens: 160 });
  });
  return JSON.parse(s.get("json"));
});

const { backend, close, report } = await setup("JSON extraction");
try {
  const t0 = performance.now();
  const runs = await extract.runBatch(documents, { backend, concurrency: 4 });
  const ms = performance.now() - t0;
  runs.forEach((r, i) => console.log(`${show(documents[i], 50)}\n  -> ${JSON.stringify(r.value)}`));
  report(totalUsage(runs), ms);
} finally {
  await close();
}
