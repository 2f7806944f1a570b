// Prints the sha256 of what the native addon is built from: binding.gyp and every file in
// native/, by name and content, in name order. The prebuilds are current when
// prebuilds/SOURCES holds this.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export function sourcesHash(root) {
  const files = ["binding.gyp", ...fs.readdirSync(path.join(root, "native")).sort().map((f) => `native/${f}`)];
  const h = createHash("sha256");
  for (const f of files) h.update(`${f}\0`).update(fs.readFileSync(path.join(root, f))).update("\0");
  return h.digest("hex");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(sourcesHash(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")) + "\n");
}
