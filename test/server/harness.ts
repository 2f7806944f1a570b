// A real radixlm server on 127.0.0.1 (port 0) over a tiny random-weight model, for the server
// tests; the native backend when the addon loads, else the reference one.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import { RadixServer, type ServerOptions } from "../../src/server/http.js";
import { loadModel, type LoadedModel } from "../../src/model/load.js";
import { runnerAddon, nativeBackend } from "../../src/kernels/native.js";
import { referenceBackend } from "../../src/kernels/reference.js";
import type { Backend } from "../../src/kernels/backend.js";
import { testModel } from "../helpers/models.js";
import { startServe } from "../helpers/serve-process.js";
import { DiskStore, type DiskStoreOptions } from "../../src/kvcache/disk-store.js";

export const MODEL_NAME = "tiny-test";

let modelPromise: Promise<LoadedModel> | null = null;
export function model(): Promise<LoadedModel> {
  modelPromise ??= testModel("server-llama", { arch: "llama", format: "gguf", dtype: "f32", seed: 3 }).then(loadModel);
  return modelPromise;
}

export function modelPath(): Promise<string> {
  return testModel("server-llama", { arch: "llama", format: "gguf", dtype: "f32", seed: 3 });
}

export function backend(): Backend {
  const addon = runnerAddon();
  return addon ? nativeBackend(addon, 2) : referenceBackend;
}

export interface Running {
  readonly server: RadixServer;
  readonly engine: Engine;
  readonly url: string;
  readonly client: OpenAI;
  close(): Promise<void>;
}

export async function start(engineOpts: Partial<Omit<EngineOptions, "model">> & { model?: LoadedModel } = {}, serverOpts: Partial<ServerOptions> = {}): Promise<Running> {
  const engine = await Engine.create({
    model: await model(), backend: backend(), maxTotalTokens: 8192, maxRunningRequests: 256, checkInvariants: true, ...engineOpts,
  });
  const server = new RadixServer({ name: MODEL_NAME, logIntervalSeconds: 0, warn: () => {}, ...serverOpts });
  const url = await server.listen("127.0.0.1", 0);
  server.attach(engine);
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: serverOpts.apiKey ?? "none", maxRetries: 0, timeout: 60_000 });
  return { server, engine, url, client, close: () => server.drain(0) };
}

/** POSTs JSON (or a raw string) and returns status, headers and parsed body. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: r.status, body: parsed, headers: r.headers };
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const r = await fetch(url, { headers });
  const text = await r.text();
  try {
    return { status: r.status, body: JSON.parse(text) };
  } catch {
    return { status: r.status, body: text };
  }
}

/** The events of an SSE response body: parsed JSON objects, and "[DONE]" as a string. */
export async function readSse(r: Response): Promise<unknown[]> {
  const text = await r.text();
  return text.split("\n\n").filter((b) => b.startsWith("data: ")).map((b) => {
    const d = b.slice(6);
    return d === "[DONE]" ? d : JSON.parse(d);
  });
}

/** Asserts the OpenAI error envelope; returns its error object. */
export function envelope(body: any): { message: string; type: string; param: string | null; code: string | null } {
  if (!body || typeof body !== "object" || !body.error) throw new Error(`not an error envelope: ${JSON.stringify(body)}`);
  const e = body.error;
  for (const k of ["message", "type", "param", "code"]) if (!(k in e)) throw new Error(`envelope lacks ${k}: ${JSON.stringify(body)}`);
  if (typeof e.message !== "string" || typeof e.type !== "string") throw new Error(`bad envelope: ${JSON.stringify(body)}`);
  return e;
}

/** Polls until `cond` holds or `ms` pass; returns whether it held. */
export async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

/** Extra (non-OpenAI) body fields passed through the client, typed as the params they extend. */
export function withExtra<T>(params: T, extra: Record<string, unknown>): T {
  return { ...params, ...extra } as T;
}

/** A `radixlm serve` child process on a free port, once it printed its ready line. */
export interface Child {
  url: string;
  exit: Promise<number | null>;
  stdout: string[];
  kill(sig: NodeJS.Signals): void;
}

export async function spawnServe(args: string[]): Promise<Child> {
  const p = startServe(await modelPath(), ["--max-total-tokens", "4096", ...args]);
  return { url: await p.ready, exit: p.exit, stdout: p.stdout, kill: (sig) => p.kill(sig) };
}

/** A server (start()) whose engine has a disk tier in a fresh folder; close() closes both and removes the folder. */
export async function startTiered(engineOpts: Partial<Omit<EngineOptions, "model">> = {}, storeOpts: Partial<DiskStoreOptions> = {}): Promise<Running & { store: DiskStore }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "radixlm-tiered-"));
  let engine: Engine | null = null;
  const store = await DiskStore.open({ dir, maxBytes: 64 << 20, fingerprint: "test", onEvict: (k) => engine?.forgetDiskItem(k), ...storeOpts });
  const run = await start({ ...engineOpts, diskStore: store });
  engine = run.engine;
  return {
    ...run, store,
    close: async () => {
      await run.close();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
