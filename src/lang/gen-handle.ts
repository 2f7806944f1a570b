// What s.gen() returns: await it for the whole text, or iterate it for the text as it
// comes. The request starts at once either way; chunks are kept, so an iterator started
// late still sees the text from the beginning.
export class GenHandle implements PromiseLike<string>, AsyncIterable<string> {
  private readonly chunks: string[] = [];
  private finished = false;
  private failure: { error: unknown } | null = null;
  private waiters: (() => void)[] = [];
  private readonly result: Promise<string>;

  /** `run` gets a callback for each piece of text and resolves with the whole text. */
  constructor(run: (push: (text: string) => void) => Promise<string>) {
    this.result = run((text) => {
      this.chunks.push(text);
      this.notify();
    }).then(
      (text) => {
        this.finished = true;
        this.notify();
        return text;
      },
      (error: unknown) => {
        this.failure = { error };
        this.finished = true;
        this.notify();
        throw error;
      },
    );
    // Whoever iterates sees the failure too; an unobserved one is the program's to report.
    this.result.catch(() => {});
  }

  private notify(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  then<T1 = string, T2 = never>(
    onFulfilled?: ((value: string) => T1 | PromiseLike<T1>) | null,
    onRejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.result.then(onFulfilled, onRejected);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    let next = 0;
    for (;;) {
      while (next < this.chunks.length) yield this.chunks[next++]!;
      if (this.failure) throw this.failure.error;
      if (this.finished) return;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}
