// Tree of thought: a question, three first steps side by side (fork), two continuations of
// each (fork again), then the model picks the best path by select. Each fork shares the
// prompt above it, so the branches compute only their own tokens.
//
//   node examples/tree-of-thought.mjs [--model PATH] [--no-cache] [--endpoint URL]
import { program } from "radixlm/lang";
import { setup, show } from "./setup.mjs";

const question = "A farmer has 17 sheep. All but 9 run away. How many sheep does the farmer have left?";

const treeOfThought = program(async (s, { question, width, depth }) => {
  s.system("Think step by step. Write one short step per line.");
  s.user(question);
  s.beginRole("assistant");
  s.append("Let us consider several approaches.\n");
  const first = s.fork(width);
  const leaves = [];
  await Promise.all(first.map(async (branch, i) => {
    branch.append(`Approach ${i + 1}: `);
    await branch.gen("step1", { maxTokens: 24, stop: ["\n"], temperature: 0.8, seed: 10 + i });
    branch.append("\n");
    const next = branch.fork(depth);
    await Promise.all(next.map(async (leaf, j) => {
      leaf.append("Next: ");
      await leaf.gen("step2", { maxTokens: 24, stop: ["\n"], temperature: 0.8, seed: 100 + 10 * i + j });
      leaf.append("\nSo the answer is ");
      await leaf.gen("answer", { maxTokens: 8, stop: ["\n", "."] });
      leaves.push({ path: `${i + 1}.${j + 1}`, step1: leaf.get("step1"), step2: leaf.get("step2"), answer: leaf.get("answer") });
    }));
  }));
  leaves.sort((a, b) => a.path.localeCompare(b.path));
  // Let the model judge the candidate answers.
  s.append(leaves.map((l) => `Path ${l.path}: ${l.answer}`).join("\n"));
  s.append("\nThe best path is ");
  const best = await s.select("best", leaves.map((l) => l.path));
  s.endRole();
  return { leaves, best };
});

const { backend, close, report } = await setup("tree of thought");
try {
  const t0 = performance.now();
  const r = await treeOfThought.run({ question, width: 3, depth: 2 }, { backend });
  const ms = performance.now() - t0;
  console.log(`question: ${question}`);
  for (const l of r.value.leaves) console.log(`path ${l.path}: ${show(l.step1, 30)} -> ${show(l.step2, 30)} => ${show(l.answer, 20)}`);
  console.log(`the model picks path ${r.value.best}`);
  report(r.usage, ms);
} finally {
  await close();
}
