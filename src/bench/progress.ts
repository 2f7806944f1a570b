// A one-line progress bar for a benchmark run, drawn on stderr only when it is a terminal
// (redirected output stays clean for scripts).

export interface ProgressStream {
  readonly isTTY?: boolean;
  write(s: string): boolean;
}

export class ProgressBar {
  private readonly tty: boolean;
  private readonly t0 = performance.now();
  private done = 0;
  private failed = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly total: number, private readonly out: ProgressStream = process.stderr) {
    this.tty = out.isTTY === true;
    if (this.tty) {
      this.timer = setInterval(() => this.draw(), 250);
      this.timer.unref();
    }
  }

  tick(ok: boolean): void {
    this.done++;
    if (!ok) this.failed++;
    this.draw();
  }

  /** The bar's text (also what a terminal shows). */
  line(): string {
    const width = 30;
    const filled = this.total > 0 ? Math.round((width * this.done) / this.total) : width;
    const secs = ((performance.now() - this.t0) / 1000).toFixed(1);
    const fails = this.failed ? `, ${this.failed} failed` : "";
    return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${this.done}/${this.total} requests${fails} ${secs}s`;
  }

  private draw(): void {
    if (this.tty) this.out.write(`\r\x1b[K${this.line()}`);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.tty) this.out.write("\r\x1b[K");
  }
}
