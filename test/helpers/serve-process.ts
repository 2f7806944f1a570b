// A `radixlm serve` child process whose stdout and stderr the test keeps, for tests that
// restart a server on the same state (a --cache-dir) and read what it says about it: its
// ready output, its warnings, how it exits. The model and every flag are the caller's.
import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";

export interface ServeProcess {
  readonly pid: number;
  /** Lines written to stdout so far. */
  readonly stdout: string[];
  /** Lines written to stderr so far. */
  readonly stderr: string[];
  /** The URL from the ready line; rejects when the process exits (or 30 s pass) before it. */
  readonly ready: Promise<string>;
  /** The exit code; null when a signal ended the process. */
  readonly exit: Promise<number | null>;
  kill(sig: NodeJS.Signals): void;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

const BIN = path.resolve(process.cwd(), "bin/radixlm.js");

export function startServe(model: string, args: readonly string[]): ServeProcess {
  const child = spawn(process.execPath, [BIN, "serve", "--model", model, "--port", "0", "--log-interval", "0", ...args],
    { stdio: ["ignore", "pipe", "pipe"] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  readline.createInterface({ input: child.stderr }).on("line", (l) => stderr.push(l));
  const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line in 30 s; stderr: ${stderr.join("\n")}`)), 30_000);
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      stdout.push(line);
      const m = /serving \S+ at (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before its ready line: ${stderr.join("\n")}`));
    });
  });
  ready.catch(() => undefined); // a caller that waits on exit alone must not see an unhandled rejection
  return {
    pid: child.pid!, stdout, stderr, ready, exit,
    kill: (sig) => child.kill(sig),
    stop: () => {
      child.kill("SIGTERM");
      return exit;
    },
  };
}
