// radixlm bench compare: `bench serve --json` results side by side, with ratios against the first.
import fs from "node:fs";
import type { Command } from "commander";
import { formatCompare, readReport } from "../bench/compare.js";
import { renderSvg } from "../bench/svg.js";

function run(files: string[], o: { svg?: string }): void {
  const runs = files.map(readReport);
  process.stdout.write(formatCompare(runs) + "\n");
  if (o.svg) fs.writeFileSync(o.svg, renderSvg(runs));
}

export function register(bench: Command): void {
  bench
    .command("compare")
    .description("print `bench serve --json` results side by side, with ratios against the first")
    .argument("<results...>", "JSON files written by `bench serve --json`")
    .option("--svg <out>", "write a chart with one series per run")
    .action(run);
}
