// A ReAct-style agent: the model thinks, picks an action by select, and the program runs a
// small calculator tool and appends its observation, until the model picks "finish" or the
// step budget runs out. Each step extends the same prompt, so each request finds the
// previous steps in the cache.
//
//   node examples/react-agent.mjs [--model PATH] [--no-cache] [--endpoint URL]
import { program } from "radixlm/lang";
import { setup, show } from "./setup.mjs";

/** The tool: + - * / and parentheses over numbers; anything else is an error the model sees. */
function calculate(expression) {
  const tokens = expression.match(/\d+(?:\.\d+)?|[-+*/()]/g) ?? [];
  if (tokens.join("") !== expression.replace(/\s+/g, "") || tokens.length === 0) throw new Error(`cannot read "${expression}"`);
  let i = 0;
  const atom = () => {
    const t = tokens[i++];
    if (t === "(") {
      const v = sum();
      if (tokens[i++] !== ")") throw new Error("missing )");
      return v;
    }
    if (t === "-") return -atom();
    if (t === undefined || !/^\d/.test(t)) throw new Error(`unexpected ${t ?? "end"}`);
    return Number(t);
  };
  const product = () => {
    let v = atom();
    while (tokens[i] === "*" || tokens[i] === "/") v = tokens[i++] === "*" ? v * atom() : v / atom();
    return v;
  };
  const sum = () => {
    let v = product();
    while (tokens[i] === "+" || tokens[i] === "-") v = tokens[i++] === "+" ? v + product() : v - product();
    return v;
  };
  const v = sum();
  if (i !== tokens.length) throw new Error(`unexpected ${tokens[i]}`);
  return v;
}

const agent = program(async (s, { question, maxSteps }) => {
  s.system("Answer the question. Use the calculator for arithmetic: write Action: calculate, then the expression in brackets. Write Action: finish with the answer when done.");
  s.user(question);
  s.beginRole("assistant");
  const steps = [];
  for (let step = 1; step <= maxSteps; step++) {
    s.append(`Thought ${step}: `);
    const thought = await s.gen(`thought${step}`, { maxTokens: 32, stop: ["\n"] });
    s.append("\nAction: ");
    const action = await s.select(`action${step}`, ["calculate", "finish"]);
    s.append(" [");
    const input = await s.gen(`input${step}`, { maxTokens: 16, stop: ["]", "\n"] });
    s.append("]\n");
    if (action === "finish") {
      steps.push({ thought, action, input });
      s.endRole();
      return { steps, answer: input };
    }
    let observation;
    try {
      observation = String(calculate(input));
    } catch (err) {
      observation = `error: ${err.message}`;
    }
    s.append(`Observation ${step}: ${observation}\n`);
    steps.push({ thought, action, input, observation });
  }
  s.endRole();
  return { steps, answer: null };
});

const { backend, close, report } = await setup("ReAct agent with a calculator");
try {
  const question = "A shop sells pens at 3 dollars each. How much do 12 pens and a 7 dollar notebook cost?";
  const t0 = performance.now();
  const r = await agent.run({ question, maxSteps: 4 }, { backend });
  const ms = performance.now() - t0;
  console.log(`question: ${question}`);
  for (const [i, st] of r.value.steps.entries()) {
    console.log(`step ${i + 1}: thought ${show(st.thought, 40)}; ${st.action} [${show(st.input, 30)}]${st.observation ? ` -> ${show(st.observation, 40)}` : ""}`);
  }
  console.log(r.value.answer === null ? "no answer within the step budget" : `answer: ${show(r.value.answer)}`);
  console.log(`(the calculator on the right expression: 12*3+7 = ${calculate("12*3+7")})`);
  report(r.usage, ms);
} finally {
  await close();
}
