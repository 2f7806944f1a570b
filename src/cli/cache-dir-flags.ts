// The disk tier's flags (`serve`, `bench offline`): where the store lives, its bound, and how
// often it is synced; and the store they open, fingerprinted so that items are only ever read
// back by the same weights, KV dtype, backend and KV layout.
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { KV_LAYOUT_VERSION } from "../engine/disk-items.js";
import type { EngineOptions } from "../engine/options.js";
import { DiskStore } from "../kvcache/disk-store.js";
import type { LoadedModel } from "../model/load.js";
import { parseFloatArg, parseIntArg, UsageError } from "./errors.js";

export interface CacheDirFlagValues {
  disableRadixCache?: boolean;
  cacheDir?: string;
  cacheDiskSize: string;
  cacheCheckpointInterval: string;
}

export function cacheDirFlags(c: Command): Command {
  return c
    .option("--cache-dir <path>", "a disk tier behind the radix cache: prefixes are kept here, loaded back instead of computed, and found again after a restart")
    .option("--cache-disk-size <bytes>", "most bytes the --cache-dir store may hold", String(8 * 2 ** 30))
    .option("--cache-checkpoint-interval <seconds>", "seconds between syncs of the --cache-dir store to the disk (0: only at shutdown); a killed process loses only unfinished writes either way, a power loss what was not synced", "30");
}

export interface CacheDir {
  readonly store: DiskStore;
  /** Milliseconds between syncs; 0: none but at shutdown. */
  readonly checkpointMs: number;
}

/** The fingerprint of the KV that `model` (the file at `localPath`) computes under `opts`. */
export function kvFingerprint(localPath: string, model: LoadedModel, opts: Pick<EngineOptions, "kvCacheDtype" | "backend">): string {
  const st = fs.statSync(localPath);
  return [KV_LAYOUT_VERSION, path.resolve(localPath), model.weights.totalBytes(), st.size, st.mtimeMs,
    opts.kvCacheDtype ?? "f16", opts.backend?.name ?? "reference", model.config.numLayers, model.config.numKvHeads, model.config.headDim].join("|");
}

/** Opens the store the flags name (null without --cache-dir); `onEvict` hears the keys its bound drops. */
export async function openCacheDir(o: CacheDirFlagValues, localPath: string, model: LoadedModel,
  opts: Pick<EngineOptions, "kvCacheDtype" | "backend">, onEvict: (key: string) => void): Promise<CacheDir | null> {
  const maxBytes = parseIntArg("--cache-disk-size", o.cacheDiskSize, 1 << 20);
  const interval = parseFloatArg("--cache-checkpoint-interval", o.cacheCheckpointInterval);
  if (!(interval >= 0)) throw new UsageError(`--cache-checkpoint-interval must be >= 0, got "${o.cacheCheckpointInterval}"`);
  if (o.cacheDir === undefined) return null;
  if (o.disableRadixCache) throw new UsageError("--cache-dir keeps the radix cache's prefixes: it does not go with --disable-radix-cache");
  let store: DiskStore;
  try {
    store = await DiskStore.open({ dir: o.cacheDir, maxBytes, fingerprint: kvFingerprint(localPath, model, opts),
      warn: (l) => process.stderr.write(`radixlm: cache dir: ${l}\n`), onEvict });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "ENOTDIR" || e.code === "EEXIST" ? "is not a directory (or lies under a file)"
      : e.code === "EISDIR" ? `holds a directory named like a segment file (${e.path ?? "?"})`
        : e.code === "EACCES" || e.code === "EPERM" ? "cannot be written" : e.message;
    throw new UsageError(`--cache-dir ${o.cacheDir} ${why}`);
  }
  return { store, checkpointMs: interval * 1000 };
}
