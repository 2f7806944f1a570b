// The reliability suite's entry point: `npm run test:reliability -- [flags]`.
//   --seed N        seed of every part (default 1)
//   --requests N    fuzz requests (default 2000)
//   --soak N        soak requests (default 2000); --salts N distinct cache_salts (default 200)
//   --mutations N   model-file mutations per format (default 250; four formats)
//   --only P[,P]    fuzz, soak, mutations, stalls (default: all)
// Prints counts by outcome per part; exits 1 on any failure.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { start } from "../server/harness.js";
import type { PartResult } from "./common.js";
import { fuzz } from "./fuzz.js";
import { soak } from "./soak.js";
import { modelMutations } from "./mutations.js";
import { stalls } from "./stalls.js";

export interface SuiteOptions {
  seed: number;
  requests: number;
  soak: number;
  salts: number;
  mutations: number;
  only: Set<string>;
}

export const PARTS = ["fuzz", "soak", "mutations", "stalls"] as const;

export function parseArgs(argv: string[]): SuiteOptions {
  const o: SuiteOptions = { seed: 1, requests: 2000, soak: 2000, salts: 200, mutations: 250, only: new Set(PARTS) };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split("=", 2) as [string, string | undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: expected an integer >= 0`);
      return n;
    };
    switch (flag) {
      case "--seed": o.seed = num(); break;
      case "--requests": o.requests = num(); break;
      case "--soak": o.soak = num(); break;
      case "--salts": o.salts = num(); break;
      case "--mutations": o.mutations = num(); break;
      case "--only": {
        const parts = value().split(",");
        for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--only: unknown part ${p} (${PARTS.join(", ")})`);
        o.only = new Set(parts);
        break;
      }
      default: throw new Error(`unknown flag ${flag}`);
    }
  }
  return o;
}

export async function runSuite(o: SuiteOptions, log: (s: string) => void): Promise<PartResult[]> {
  const results: PartResult[] = [];
  const report = (r: PartResult): void => {
    results.push(r);
    log(`${r.part}: ${r.tally.line()}${r.notes.length ? `; ${r.notes.join("; ")}` : ""}`);
    for (const f of r.tally.failures.slice(0, 50)) log(`  FAIL ${f}`);
    if (r.tally.failures.length > 50) log(`  ... ${r.tally.failures.length - 50} more failures`);
  };
  const needsServer = o.only.has("fuzz") || o.only.has("soak") || o.only.has("stalls");
  const srv = needsServer ? await start() : null;
  try {
    if (srv && o.only.has("fuzz")) report(await fuzz({ url: srv.url, seed: o.seed, requests: o.requests }));
    if (srv && o.only.has("soak")) report(await soak({ url: srv.url, seed: o.seed, requests: o.soak, salts: o.salts }));
    if (srv && o.only.has("stalls")) report(await stalls({ url: srv.url }));
  } finally {
    await srv?.close();
  }
  if (o.only.has("mutations")) report(await modelMutations({ seed: o.seed, count: o.mutations }));
  return results;
}

// Only when run as a program: `node --test dist-test/test/` runs this file too (as a test file
// of its own, with argv[1] the file but under the test runner), and then it does nothing.
const invoked = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
const underTestRunner = process.env.NODE_TEST_CONTEXT !== undefined || process.execArgv.includes("--test");
if (invoked && !underTestRunner) {
  let opts: SuiteOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`reliability: ${(err as Error).message}`);
    process.exit(2);
  }
  const t0 = Date.now();
  const results = await runSuite(opts, (s) => console.log(s));
  const failures = results.reduce((n, r) => n + r.tally.failures.length, 0);
  console.log(`reliability: seed ${opts.seed}, ${((Date.now() - t0) / 1000).toFixed(1)} s, ${failures} failure(s)`);
  process.exit(failures > 0 ? 1 : 0);
}
