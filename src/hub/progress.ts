// Download progress on stderr: the shared bar (util/progress.ts: bytes done and total, rate,
// time left, the file) when it is a terminal, one plain line every few seconds when it is a log.
import { formatBytes, formatDuration, Progress, type ProgressStream } from "../util/progress.js";

export { formatBytes, type ProgressStream };

export class DownloadProgress {
  /** The bar on a terminal; null in a log. */
  private readonly bar: Progress | null;
  private readonly t0 = performance.now();
  private lastDraw = 0;
  private done = 0;
  /** Bytes already on disk when this run began (resumed): not counted in the rate. */
  private resumed = 0;
  private file = "";

  /** `every`: milliseconds between plain lines when the stream is not a terminal. */
  constructor(private readonly label: string, private readonly total: number, private readonly out: ProgressStream, private readonly every = 5000) {
    this.bar = out.isTTY === true ? new Progress(`downloading ${label}`, total, { out, unit: "bytes", rate: true }) : null;
  }

  /** Now fetching `file`, of which `already` bytes were on disk. */
  startFile(file: string, already: number): void {
    this.file = file;
    this.done += already;
    this.resumed += already;
    this.bar?.already(already);
    if (this.bar) this.bar.update(this.done, file);
    else this.draw(true);
  }

  add(bytes: number): void {
    this.done += bytes;
    if (this.bar) this.bar.update(this.done);
    else this.draw(false);
  }

  /** A retried file's bytes go back out of the count. */
  rewind(bytes: number): void {
    this.done -= bytes;
    this.bar?.update(this.done);
  }

  line(): string {
    const secs = (performance.now() - this.t0) / 1000;
    const rate = secs > 0 ? (this.done - this.resumed) / secs : 0;
    const left = rate > 0 ? ` ${formatDuration((this.total - this.done) / rate)} left` : "";
    const pct = this.total > 0 ? Math.floor((100 * this.done) / this.total) : 100;
    const width = 24;
    const filled = Math.min(width, Math.round((width * pct) / 100));
    return `radixlm: downloading ${this.label} ${this.file} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${pct}% ${formatBytes(this.done)}/${formatBytes(this.total)} ${formatBytes(rate)}/s${left}`;
  }

  /** A log's plain line, every `every` milliseconds. */
  private draw(force: boolean): void {
    const now = performance.now();
    if (now - this.lastDraw >= this.every || (force && this.lastDraw === 0)) {
      this.lastDraw = now;
      this.out.write(`${this.line()}\n`);
    }
  }

  /** Clears the bar (a terminal) and says how much came in how long. */
  finish(): void {
    const secs = (performance.now() - this.t0) / 1000;
    this.bar?.stop();
    this.out.write(`radixlm: downloaded ${this.label} (${formatBytes(this.done - this.resumed)} in ${secs.toFixed(1)}s)\n`);
  }

  /** Leaves the bar's last state on its own line (a terminal) before an error is printed. */
  fail(): void {
    if (!this.bar) return;
    const last = this.bar.line();
    this.bar.stop();
    this.out.write(`${last}\n`);
  }
}
