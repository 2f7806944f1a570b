// What the engine tells an observer (the dashboard) about requests: those in flight, one
// record per sample, and the last few that finished, with the ids they leave in the cache.
// Records are copies or read-only arrays taken once; nothing here changes a request.
import type { Request, RequestStatus } from "../scheduler/request.js";

export interface RequestInfo {
  /** The id it was submitted under (an abort takes it). */
  readonly id: string;
  /** Its sample's own id (differs from `id` when a submission has several samples). */
  readonly sampleId: string;
  readonly status: RequestStatus;
  readonly promptTokens: number;
  /** Prompt tokens served from the cache; -1 until it is admitted. */
  readonly cachedTokens: number;
  readonly outputTokens: number;
  /** Milliseconds since it arrived. */
  readonly ageMs: number;
  readonly salt: string;
}

export interface FinishedRequest {
  readonly id: string;
  readonly salt: string;
  /** Prompt then output ids (what a finished request inserts into the cache). */
  readonly ids: readonly number[];
  readonly promptTokens: number;
  readonly cachedTokens: number;
  readonly finishedAt: number;
}

export function requestInfo(r: Request, now: number): RequestInfo {
  return {
    id: r.parentId, sampleId: r.id, status: r.status, promptTokens: r.promptLength, cachedTokens: r.cachedPromptTokens,
    outputTokens: r.outputLength, ageMs: now - r.arrival, salt: r.salt,
  };
}

/** The last `capacity` finished requests by id (a later one with the same id replaces the earlier). */
export class FinishedLog {
  private readonly byId = new Map<string, FinishedRequest>();
  constructor(private readonly capacity = 64) {}

  add(r: Request): void {
    const rec: FinishedRequest = {
      id: r.parentId, salt: r.salt, ids: r.tokens, promptTokens: r.promptLength,
      cachedTokens: Math.max(0, r.cachedPromptTokens), finishedAt: performance.now(),
    };
    this.byId.delete(rec.id);
    this.byId.set(rec.id, rec);
    if (this.byId.size > this.capacity) this.byId.delete(this.byId.keys().next().value!);
  }

  get(id: string): FinishedRequest | undefined {
    return this.byId.get(id);
  }
}
