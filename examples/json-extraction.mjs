// JSON extraction: the program writes the JSON skeleton itself and the model fills in each
// value (a gen stopped at the closing quote, a select for the enum field), so the output
// always parses. Every document shares the instructions, and each field's request extends
// the previous one, so most of the prompt comes from the cache.
//
// When structured generation lands (issue 7), s.gen("json", { jsonSchema }) constrains one
// gen to the schema instead; this radixlm does not have it yet.
//
//   node examples/json-extraction.mjs [--model PATH] [--no-cache] [--endpoint URL]
import { program } from "radixlm/lang";
import { setup, show, totalUsage } from "./setup.mjs";

const schema = {
  name: { type: "string" },
  city: { type: "string" },
  role: { enum: ["engineer", "teacher", "doctor", "artist", "other"] },
  age: { type: "integer" },
};

const documents = [
  "Maria Lopez, 34, has taught mathematics in Seville for ten years.",
  "Dr. Kenji Sato (52) runs the cardiology ward of a hospital in Osaka.",
  "Aisha Bello is a 27-year-old software engineer living in Lagos.",
  "Painter Tom Eriksen, aged 61, keeps a small studio in Bergen.",
];

const extract = program(async (s, document) => {
  s.system(`Extract the fields ${Object.keys(schema).join(", ")} from the text as JSON.`);
  s.user(document);
  s.beginRole("assistant");
  s.append("{\n");
  const fields = Object.entries(schema);
  for (const [i, [key, spec]] of fields.entries()) {
    s.append(`  "${key}": `);
    if (spec.enum) {
      s.append('"');
      await s.select(key, spec.enum);
      s.append('"');
    } else if (spec.type === "integer") {
      await s.gen(key, { maxTokens: 4, stop: [",", "\n", "}"] });
    } else {
      s.append('"');
      await s.gen(key, { maxTokens: 12, stop: ['"', "\n"] });
      s.append('"');
    }
    s.append(i < fields.length - 1 ? ",\n" : "\n");
  }
  s.append("}");
  s.endRole();
  const record = {};
  for (const [key, spec] of fields) {
    const raw = s.get(key).trim();
    record[key] = spec.type === "integer" ? (Number.isInteger(Number(raw)) && raw !== "" ? Number(raw) : null) : raw;
  }
  return record;
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
