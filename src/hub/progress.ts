// Download progress on stderr: a bar redrawn in place (bytes done and total, rate, time left)
// when it is a terminal, one plain line every few seconds when it is a log.

import { formatBytes, formatDuration, type ProgressStream } from "../util/progress.js";

export { formatBytes, type ProgressStream };

export class DownloadProgress {
  private readonly tty: boolean;
  private readonly t0 = performance.now();
  private lastDraw = 0;
  private done = 0;
  /** Bytes already on disk when this run began (resumed): not counted in the rate. */
  private resumed = 0;
  private file = "";

  /** `every`: milliseconds between plain lines when the stream is not a terminal. */
  constructor(private readonly label: string, private readonly total: number, private readonly out: ProgressStream, private readonly every = 5000) {
    this.tty = out.isTTY === true;
  }

  /** Now fetching `file`, of which `already` bytes were on disk. */
  startFile(file: string, already: number): void {
    this.file = file;
    this.done += already;
    this.resumed += already;
    this.draw(true);
  }

  add(bytes: number): void {
    this.done += bytes;
    this.draw(false);
  }

  /** A retried file's bytes go back out of the count. */
  rewind(bytes: number): void {
    this.done -= bytes;
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

  private draw(force: boolean): void {
    const now = performance.now();
    if (this.tty) {
      if (!force && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      this.out.write(`\r\x1b[K${this.line()}`);
    } else if (now - this.lastDraw >= this.every || (force && this.lastDraw === 0)) {
      this.lastDraw = now;
      this.out.write(`${this.line()}\n`);
    }
  }

  /** Clears the bar (a terminal) and says how much came in how long. */
  finish(): void {
    const secs = (performance.now() - this.t0) / 1000;
    if (this.tty) this.out.write("\r\x1b[K");
    this.out.write(`radixlm: downloaded ${this.label} (${formatBytes(this.done - this.resumed)} in ${secs.toFixed(1)}s)\n`);
  }

  /** Leaves the bar's last state on its own line (a terminal) before an error is printed. */
  fail(): void {
    if (this.tty) this.out.write("\n");
  }
}
