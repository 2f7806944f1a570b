// A problem with an input file, and how a file's own text may appear in the message about it.

/**
 * The CLI prints `radixlm: error: <path>: <field>: <problem>` (`<path>: <problem>` when no
 * single field is at fault) and exits 2. The message is made safe for a terminal here, once,
 * because problems often quote the file: see `quote` and `escapeControls`.
 */
export class FormatError extends Error {
  /** `cause`: the library error this one stands for, when a library failed on the file. */
  constructor(readonly path: string, readonly problem: string, readonly field: string | null = null, cause?: unknown) {
    super(escapeControls(`${path}: ${field === null ? "" : `${field}: `}${problem}`), cause === undefined ? undefined : { cause });
    this.name = "FormatError";
  }
}

/** A FormatError about one field (a metadata key, a JSON key, a tensor's offset...). */
export function fieldError(path: string, field: string, problem: string): FormatError {
  return new FormatError(path, problem, field);
}

// C0 controls, DEL, C1 controls (0x9b is CSI on many terminals), line and paragraph separators,
// and the bidi overrides that can make a line read differently from what it says.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `s` with every character a terminal would act on written as a \uXXXX escape. */
export function escapeControls(s: string): string {
  return s.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * A string from a file, for an error message: in double quotes with JSON's escapes, terminal
 * controls escaped too, and cut to `max` characters so a megabyte of junk stays one short line.
 */
export function quote(s: string, max = 64): string {
  const cut = s.length > max ? s.slice(0, max) : s;
  return escapeControls(JSON.stringify(cut)) + (s.length > max ? `... (${s.length} characters)` : "");
}
