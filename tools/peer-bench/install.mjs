// The peer, node-llama-cpp, installed once into a scratch folder outside the project (never a
// dependency of radixlm), from the npm registry; shared by compare.mjs and serve.mjs.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The parseArgs options every peer tool takes: which node-llama-cpp, and where it lives. */
export const peerOptions = {
  "peer-version": { type: "string", default: "3.22.1" },
  "peer-dir": { type: "string", default: path.join(os.homedir(), ".cache", "radixlm-peer-bench") },
};

/** The peer's folder for `version` under `dir`, installed if it is not yet; exits when it is inside the project. */
export function installPeer(dir, version, tool) {
  const peerDir = path.resolve(dir, version);
  if (peerDir === root || peerDir.startsWith(root + path.sep)) {
    console.error(`${tool}: the peer's folder must be outside the project`);
    process.exit(2);
  }
  if (!fs.existsSync(path.join(peerDir, "node_modules", "node-llama-cpp"))) {
    fs.mkdirSync(peerDir, { recursive: true });
    fs.writeFileSync(path.join(peerDir, "package.json"), JSON.stringify({ name: "radixlm-peer-bench", private: true, type: "module" }));
    console.error(`${tool}: installing node-llama-cpp@${version} into ${peerDir}`);
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "-E", `node-llama-cpp@${version}`], { cwd: peerDir, stdio: "inherit" });
  }
  return peerDir;
}
