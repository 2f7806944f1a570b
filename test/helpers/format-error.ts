// What every refusal of a bad model file must look like: a FormatError whose one-line message
// starts with the file, names the field, and holds no raw control characters.
import assert from "node:assert/strict";
import { FormatError } from "../../src/formats/errors.js";

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function assertFormatError(err: unknown, file: string, ...needles: string[]): FormatError {
  if (!(err instanceof FormatError)) {
    assert.fail(`expected a FormatError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
  assert.ok(err.message.startsWith(`${file}: `) || err.message.startsWith(`${file}/`), `"${err.message}" should start with ${file}`);
  assert.doesNotMatch(err.message, CONTROL, "no raw control characters");
  for (const n of needles) assert.ok(err.message.includes(n), `"${err.message}" should mention ${JSON.stringify(n)}`);
  return err;
}

/** Awaits `p` (or calls it) and checks it failed with such a FormatError. */
export async function rejectsWithFormatError(p: Promise<unknown> | (() => unknown), file: string, ...needles: string[]): Promise<FormatError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    return assertFormatError(err, file, ...needles);
  }
  return assert.fail(`expected ${file} to be refused (${needles.join(", ")}), but it loaded`);
}
