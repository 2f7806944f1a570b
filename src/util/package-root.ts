// The radixlm package's own folder, found from this file's location (dist/ in an install or a
// checkout, dist-test/ in the tests' build), for what ships beside the code: the native
// addon and its prebuilt binaries, and the demo model.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

/** The nearest folder above this file whose package.json names radixlm. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, "package.json");
    if (fs.existsSync(pkg)) {
      const name = (JSON.parse(fs.readFileSync(pkg, "utf8")) as { name?: unknown }).name;
      if (name === "radixlm") return (root = dir);
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error("cannot find the radixlm package folder");
    dir = up;
  }
}
