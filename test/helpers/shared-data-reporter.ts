// `npm test`'s reporter: node's spec reporter, except that tests skipped because the shared
// test data (../shared/testdata) is absent are not listed one by one: one line at the end says
// how many there were and how to get the data. Other skips, failures and the exit code are
// spec's and node's as ever.
import { Transform, type TransformCallback } from "node:stream";
import { spec, type TestEvent } from "node:test/reporters";

/** The skip messages of tests that need the shared test data. */
const MISSING_DATA = /shared (test data|chat templates)|\.\.\/shared\/testdata/i;

export function skippedForData(e: TestEvent): boolean {
  return e.type === "test:pass" && typeof e.data.skip === "string" && MISSING_DATA.test(e.data.skip);
}

export function summaryLine(n: number): string {
  return `\u2139 ${n} test${n === 1 ? "" : "s"} skipped: the shared test data is absent; put it at ../shared/testdata (beside this checkout, as ../shared/testdata/README.md describes) to run them\n`;
}

export default class SharedDataReporter extends Transform {
  private readonly inner = new spec();
  /** A test's start, held until its end says whether it was skipped for the data. */
  private held: TestEvent | null = null;
  private skipped = 0;

  constructor() {
    super({ writableObjectMode: true });
    this.inner.on("data", (chunk: Buffer | string) => this.push(chunk));
  }

  override _transform(e: TestEvent, _enc: BufferEncoding, done: TransformCallback): void {
    const held = this.held;
    this.held = null;
    if (held && held.type === "test:start" && skippedForData(e) && e.type === "test:pass" &&
        held.data.name === e.data.name && held.data.nesting === e.data.nesting && held.data.file === e.data.file) {
      this.skipped++;
      done();
      return;
    }
    if (held) this.inner.write(held);
    if (e.type === "test:start") this.held = e;
    else if (skippedForData(e)) this.skipped++;
    else this.inner.write(e);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.held) this.inner.write(this.held);
    this.inner.once("end", () => {
      if (this.skipped > 0) this.push(summaryLine(this.skipped));
      done();
    });
    this.inner.end();
  }
}
