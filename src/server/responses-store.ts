// Stored responses (store: true, the default), in memory: what GET /v1/responses/{id} returns
// and what a follow-up naming it as previous_response_id continues. Bounded by count and by
// bytes, least recently used first out; the KV of a stored conversation lives on in the radix
// cache on its own terms, so a follow-up usually finds its prefix computed.
import type { ChatMessage } from "../tokenizer/chat-template.js";
import type { Item } from "./responses-input.js";

export interface StoredResponse {
  /** The response object as it was sent. */
  readonly response: Record<string, unknown>;
  /** The conversation it continued, its input and its output, without the instructions (a follow-up does not inherit them). */
  readonly conversation: readonly ChatMessage[];
  /** Its own input items, as input_items lists them. */
  readonly inputItems: readonly Item[];
}

/** Defaults of the store's bounds. */
export const DEFAULT_STORED_RESPONSES = 1000;
export const DEFAULT_STORED_BYTES = 64 * 1024 * 1024;

export class ResponseStore {
  /** Insertion order is use order: the first entry is the least recently used. */
  private readonly entries = new Map<string, { readonly value: StoredResponse; readonly bytes: number }>();
  private total = 0;

  constructor(private readonly maxResponses = DEFAULT_STORED_RESPONSES, private readonly maxBytes = DEFAULT_STORED_BYTES) {}

  /** The response, now the most recently used; undefined when never stored, deleted or evicted. */
  get(id: string): StoredResponse | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    this.entries.delete(id);
    this.entries.set(id, e);
    return e.value;
  }

  /** Keeps a response, evicting the least recently used past the bounds; one larger than the byte bound alone is not kept. */
  put(id: string, value: StoredResponse): void {
    // The size of its JSON: messages shared with the previous response count again, so the
    // bound is conservative.
    const bytes = 2 * JSON.stringify(value).length;
    this.delete(id);
    if (bytes > this.maxBytes || this.maxResponses <= 0) return;
    this.entries.set(id, { value, bytes });
    this.total += bytes;
    for (const [oldest, e] of this.entries) {
      if (this.entries.size <= this.maxResponses && this.total <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.total -= e.bytes;
    }
  }

  delete(id: string): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    this.entries.delete(id);
    this.total -= e.bytes;
    return true;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Bytes held, as counted (two per character of the JSON). */
  get bytes(): number {
    return this.total;
  }
}
