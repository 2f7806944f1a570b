// Progress of a long job on stderr: one bar redrawn in place (cli-progress) when the stream is a
// terminal, nothing at all when it is a pipe or a file (scripts and logs stay clean), nothing
// either after `setQuiet(true)` (the CLI's --quiet). Every long command draws through this.
import cliProgress from "cli-progress";

export interface ProgressStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(s: string): boolean;
}

let quiet = false;

/** --quiet: no progress anywhere in this process from now on. */
export function setQuiet(q: boolean): void {
  quiet = q;
}

export function isQuiet(): boolean {
  return quiet;
}

export interface ProgressOptions {
  /** Where it draws (default stderr); drawn only when `isTTY` is true. */
  readonly out?: ProgressStream;
  /** What `total` counts ("tensors", "requests"...); "bytes" prints sizes and a byte rate. */
  readonly unit?: string;
  /** Also show the rate (units per second). */
  readonly rate?: boolean;
}

const UNITS = ["B", "KB", "MB", "GB", "TB"];

export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${UNITS[u]}`;
}

/** 5s, 2m05s, 1h02m. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.ceil(s)}s`;
}

const BAR_WIDTH = 24;

/** The bar's text: `radixlm: <label> [####....] 3/10 <unit> 30% <rate> <elapsed> ETA <eta> <status>`. */
export function progressLine(label: string, done: number, total: number, elapsedS: number, o: { unit?: string; rate?: boolean; status?: string; base?: number }): string {
  const bytes = o.unit === "bytes";
  const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(BAR_WIDTH * frac);
  const count = bytes ? `${formatBytes(done)}/${formatBytes(total)}` : `${done}/${total}${o.unit ? ` ${o.unit}` : ""}`;
  const parts = [`radixlm: ${label} [${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${count} ${Math.floor(frac * 100)}%`];
  // Work done before the job began (a resumed download) counts toward done, not the rate.
  const perS = elapsedS > 0 ? Math.max(0, done - (o.base ?? 0)) / elapsedS : 0;
  if (o.rate && perS > 0) parts.push(bytes ? `${formatBytes(perS)}/s` : `${perS.toFixed(perS >= 10 ? 0 : 1)} ${o.unit ?? ""}/s`.replace(" /s", "/s"));
  parts.push(elapsedS < 60 ? `${elapsedS.toFixed(1)}s` : formatDuration(elapsedS));
  if (perS > 0 && done < total) parts.push(`ETA ${formatDuration((total - done) / perS)}`);
  if (o.status) parts.push(o.status);
  return parts.join(" ");
}

/** One job's progress: `update`/`increment` as it goes, `stop` when it ends (clears the line). */
export class Progress {
  private readonly bar: cliProgress.SingleBar | null;
  private readonly t0 = performance.now();
  private done = 0;
  private base = 0;
  private status = "";

  constructor(private readonly label: string, private total: number, private readonly o: ProgressOptions = {}) {
    const out = o.out ?? process.stderr;
    this.bar = quiet || out.isTTY !== true ? null : new cliProgress.SingleBar({
      // Only write() and isTTY are used (through readline's cursorTo); any such stream does.
      stream: out as NodeJS.WritableStream,
      format: () => this.line(),
      fps: 5,
      gracefulExit: false,
      hideCursor: false,
      linewrap: false,
      clearOnComplete: true,
      etaAsynchronousUpdate: false,
    });
    this.bar?.start(total, 0);
  }

  /** Whether anything is drawn (a terminal, not quiet). */
  get drawing(): boolean {
    return this.bar !== null;
  }

  /** The bar's current text (also what a terminal shows). */
  line(): string {
    return progressLine(this.label, this.done, this.total, (performance.now() - this.t0) / 1000, { unit: this.o.unit, rate: this.o.rate, status: this.status, base: this.base });
  }

  /** `status`: what it is doing now (a phase, a running figure); a new phase is drawn at once. */
  update(done: number, status?: string): void {
    this.done = done;
    const newPhase = status !== undefined && status !== this.status;
    if (status !== undefined) this.status = status;
    this.bar?.update(done);
    if (newPhase) this.bar?.render();
  }

  /** `n` of the units done were done before this job (resumed): they count toward done, not the rate. */
  already(n: number): void {
    this.base += n;
  }

  increment(by = 1, status?: string): void {
    this.update(this.done + by, status);
  }

  setTotal(total: number): void {
    this.total = total;
    this.bar?.setTotal(total);
  }

  /** Clears the bar's line; the caller prints its own summary after. */
  stop(): void {
    if (!this.bar) return;
    this.bar.stop();
    // clearOnComplete only clears a bar that reached its total: clear it in every case.
    const out = this.o.out ?? process.stderr;
    out.write("\r\x1b[K");
  }
}
