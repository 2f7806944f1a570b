/** A problem with an input file: the CLI prints `radixlm: error: <path>: <problem>` and exits 2. */
export class FormatError extends Error {
  constructor(readonly path: string, readonly problem: string) {
    super(`${path}: ${problem}`);
    this.name = "FormatError";
  }
}
