// Few-shot classification: a fixed block of labelled examples, then each input, labelled by
// select (the most likely label, scored by the model). Every input shares the examples, so
// after the first request the radix cache serves them.
//
//   node examples/few-shot-classification.mjs [--model PATH] [--no-cache] [--endpoint URL]
import { program } from "radixlm/lang";
import { setup, show, totalUsage } from "./setup.mjs";

const labels = ["positive", "negative", "neutral"];
const shots = [
  ["The food was wonderful and the staff were kind.", "positive"],
  ["I waited an hour and the soup was cold.", "negative"],
  ["The restaurant opens at nine.", "neutral"],
  ["Best concert I have been to in years!", "positive"],
  ["The battery died after two days.", "negative"],
  ["The package arrived on Tuesday.", "neutral"],
];
const inputs = [
  "What a lovely surprise, thank you!",
  "The train was late again and nobody told us why.",
  "The meeting is in room four.",
  "This phone is fast and the screen is gorgeous.",
  "The app crashes every time I open it.",
  "The museum has three floors.",
  "I would happily stay here again.",
  "The refund never came.",
];

const classify = program(async (s, text) => {
  s.system(`Classify the sentiment of each review as ${labels.join(", ")}.`);
  for (const [review, label] of shots) {
    s.user(review);
    s.assistant(label);
  }
  s.user(text);
  await s.assistant(async (a) => {
    await a.select("label", labels);
  });
  return s.get("label");
});

const { backend, close, report } = await setup("few-shot classification");
try {
  const t0 = performance.now();
  const runs = await classify.runBatch(inputs, { backend, concurrency: 4 });
  const ms = performance.now() - t0;
  runs.forEach((r, i) => console.log(`${show(inputs[i])} -> ${r.value}`));
  report(totalUsage(runs), ms);
} finally {
  await close();
}
