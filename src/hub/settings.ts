// Where the Hugging Face cache is and how to reach the hub, read from the environment with
// huggingface_hub's names and precedence, so Python tools and radixlm share one cache.
import os from "node:os";
import path from "node:path";
import fs from "node:fs";

export const DEFAULT_ENDPOINT = "https://huggingface.co";

export interface HubSettings {
  /** The hub cache folder (holds models--org--name/). */
  readonly cacheDir: string;
  /** The hub's base URL, without a trailing slash. */
  readonly endpoint: string;
  /** A token sent as `Authorization: Bearer`, or null. */
  readonly token: string | null;
  /** Never touch the network (HF_HUB_OFFLINE). */
  readonly offline: boolean;
}

export type Env = Readonly<Record<string, string | undefined>>;

const expandHome = (p: string): string => (p === "~" || p.startsWith("~/") ? path.join(os.homedir(), p.slice(1)) : p);

const isTrue = (v: string | undefined): boolean => v !== undefined && ["1", "ON", "YES", "TRUE"].includes(v.trim().toUpperCase());

function hfHome(env: Env): string {
  if (env.HF_HOME) return expandHome(env.HF_HOME);
  return path.join(env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : path.join(os.homedir(), ".cache"), "huggingface");
}

/** $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE (the older name), else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(env: Env = process.env): string {
  const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  return explicit ? expandHome(explicit) : path.join(hfHome(env), "hub");
}

/** $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN, else the file `huggingface-cli login` writes ($HF_TOKEN_PATH or $HF_HOME/token). */
function token(env: Env): string | null {
  const t = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN;
  if (t) return t.trim();
  try {
    const saved = fs.readFileSync(env.HF_TOKEN_PATH ? expandHome(env.HF_TOKEN_PATH) : path.join(hfHome(env), "token"), "utf8").trim();
    return saved === "" ? null : saved;
  } catch {
    return null;
  }
}

export function hubSettings(env: Env = process.env): HubSettings {
  return {
    cacheDir: hubCacheDir(env),
    endpoint: (env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, ""),
    token: token(env),
    offline: isTrue(env.HF_HUB_OFFLINE),
  };
}
