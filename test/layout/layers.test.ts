// The layering the code keeps (README, Layout): a folder imports only folders of an earlier
// stage or its own, and no files import each other in a circle. Read from the sources.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

/** Stages in order; folders in one stage may import each other's files. */
const STAGES = [["native", "util"], ["formats", "tokenizer"], ["hub"], ["kernels"], ["model"], ["kvcache"], ["sampling", "structured"],
  ["scheduler"], ["speculative"], ["engine"], ["server", "lang", "bench", "router"], ["cli"]];
const stageOf = new Map(STAGES.flatMap((folders, i) => folders.map((f): [string, number] => [f, i])));

const SRC = path.resolve(process.cwd(), "src");

/** Every source file and the source files it imports (relative imports only). */
function imports(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) {
        const text = fs.readFileSync(p, "utf8");
        const deps = [...text.matchAll(/(?:from|import)\s*\(?\s*["'](\.[^"']+)["']/g)].map((m) => path.resolve(dir, m[1]!).replace(/\.js$/, ".ts"));
        out.set(p, deps);
      }
    }
  };
  walk(SRC);
  return out;
}

const folder = (file: string): string => path.relative(SRC, file).split(path.sep)[0]!;

test("no folder imports a later stage", () => {
  const bad: string[] = [];
  for (const [file, deps] of imports()) {
    const from = stageOf.get(folder(file));
    if (from === undefined) continue; // src/index.ts: the package's exports
    for (const d of deps) {
      const to = stageOf.get(folder(d));
      assert.notEqual(to, undefined, `${path.relative(SRC, d)} (imported by ${path.relative(SRC, file)}) is in no known stage`);
      if (to! > from) bad.push(`${path.relative(SRC, file)} -> ${path.relative(SRC, d)}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("no import cycles between files", () => {
  const graph = imports();
  const state = new Map<string, 1 | 2>();
  const cycles: string[] = [];
  const visit = (f: string, stack: string[]): void => {
    state.set(f, 1);
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 1) cycles.push([...stack.slice(stack.indexOf(d)), d].map((x) => path.relative(SRC, x)).join(" -> "));
      else if (!state.has(d)) visit(d, stack);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f, []);
  assert.deepEqual(cycles, []);
});
