// Token-slot allocator of the KV pool. The K/V storage itself lives in the backend's runner
// (native memory); this class only decides which slots are free. A slot is freed exactly
// once: freeing a slot that is already free is a bug and throws.

export class KVPool {
  private readonly freeStack: Int32Array;
  private top: number;
  private readonly isFree: Uint8Array;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new Error(`KV pool capacity must be a positive integer, got ${capacity}`);
    this.freeStack = new Int32Array(capacity);
    // Pop order 0, 1, 2, ...: fresh pools hand out slots in order, which keeps tests readable.
    for (let i = 0; i < capacity; i++) this.freeStack[i] = capacity - 1 - i;
    this.top = capacity;
    this.isFree = new Uint8Array(capacity).fill(1);
  }

  get freeCount(): number {
    return this.top;
  }

  /** `n` free slots, or null when fewer than `n` are free (nothing is taken then). */
  alloc(n: number): Int32Array | null {
    if (n > this.top) return null;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const s = this.freeStack[--this.top]!;
      this.isFree[s] = 0;
      out[i] = s;
    }
    return out;
  }

  free(slots: ArrayLike<number>): void {
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (s < 0 || s >= this.capacity) throw new Error(`KV pool: slot ${s} out of range`);
      if (this.isFree[s]) throw new Error(`KV pool: slot ${s} freed twice`);
      this.isFree[s] = 1;
      this.freeStack[this.top++] = s;
    }
  }
}
