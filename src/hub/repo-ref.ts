// A model named by its Hugging Face repo rather than by a path: `org/name`, optionally
// `/path/in/repo.gguf` or node-llama-cpp's `:QUANT` tag, optionally `@revision`; written with
// `hf:` in front it may be downloaded, without it only the local cache is searched.

export interface RepoRef {
  /** As the user wrote it. */
  readonly text: string;
  /** `org/name`. */
  readonly repo: string;
  /** A file in the repo (a GGUF, or any part of a split one), or null for the whole model. */
  readonly file: string | null;
  /** A quantization tag (`Q4_K_M`): the repo's one GGUF whose name holds it. */
  readonly quant: string | null;
  /** A branch, tag or commit, or null for the current one (main). */
  readonly revision: string | null;
  /** Written with `hf:`: fetch from the hub when the cache does not have it. */
  readonly download: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const PATH_PART = /^[^\\:*?"<>|\u0000-\u001f]+$/;
const COMMIT = /^[0-9a-f]{40}$/;

export const isCommitHash = (s: string): boolean => COMMIT.test(s);

/** The reference `s` stands for, or null when it cannot be one (then it is only a path). */
export function parseRepoRef(s: string): RepoRef | null {
  const download = s.startsWith("hf:");
  let body = download ? s.slice(3) : s;
  let revision: string | null = null;
  const at = body.lastIndexOf("@");
  if (at >= 0) {
    revision = body.slice(at + 1);
    body = body.slice(0, at);
    if (revision === "" || /[\s\u0000-\u001f]|\.\./.test(revision)) return null;
  }
  const parts = body.split("/");
  if (parts.length < 2) return null;
  const [org, nameTag, ...rest] = parts as [string, string, ...string[]];
  let name = nameTag;
  let quant: string | null = null;
  const colon = nameTag.indexOf(":");
  if (colon >= 0 && rest.length === 0) {
    name = nameTag.slice(0, colon);
    quant = nameTag.slice(colon + 1);
    if (!/^[A-Za-z0-9._-]+$/.test(quant)) return null;
  }
  if (!NAME.test(org) || !NAME.test(name)) return null;
  if (rest.some((p) => p === "" || p === "." || p === ".." || !PATH_PART.test(p))) return null;
  return { text: s, repo: `${org}/${name}`, file: rest.length > 0 ? rest.join("/") : null, quant, revision, download };
}

/** The `hf:` form of a reference (what to suggest when the cache does not have it). */
export function downloadForm(ref: RepoRef): string {
  const what = ref.file !== null ? `${ref.repo}/${ref.file}` : ref.quant !== null ? `${ref.repo}:${ref.quant}` : ref.repo;
  return `hf:${what}${ref.revision !== null ? `@${ref.revision}` : ""}`;
}
