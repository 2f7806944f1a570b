// One step of the engine's loop, top to bottom: schedule, run the forward pass, pool,
// sample (and verify drafts), postprocess, emit. The engine (engine.ts) owns the requests and
// the loop; this owns what a step reuses from the last: the logits and hidden-state buffers,
// and the requests whose grammar mask was late.
import type { ModelRunner } from "../kernels/backend.js";
import type { LoadedModel } from "../model/load.js";
import { buildStepPlan, draftRows } from "../scheduler/plan.js";
import type { Request } from "../scheduler/request.js";
import type { OutputEvent, Scheduler } from "../scheduler/scheduler.js";
import type { Speculator } from "../speculative/speculator.js";
import { poolStep } from "./pool-step.js";
import { jumpForward, prepareMasks, sampleRows, settleMasks, takeLate, type LateSample, type SampledStep } from "./sample-step.js";
import { verifyDrafts } from "./verify-step.js";

/**
 * How long a step waits for grammar masks after its forward pass. Masks are computed while
 * the forward pass runs and are normally in by then; one that is later than this (its worker
 * is compiling) is sampled when it comes, without holding up the batch.
 */
const MASK_GRACE_MS = 50;

/** What a step needs of the engine around it. */
export interface StepHost {
  emit(events: readonly OutputEvent[]): void;
  /** Wakes the loop (a late mask came in). */
  kick(): void;
  /** Sends what was queued for the grammar worker. */
  flushGrammar(): void;
  /** The disk tier's loads that came in, and writes and loads to start. */
  tiersStep(): void;
}

export class EngineStep {
  /** Steps run and tokens generated since the start. */
  steps = 0;
  generated = 0;
  /** Logits of the last step, reused by the next one (grown on demand). */
  private logitsBuf = new Float32Array(0);
  /** Hidden states of the last step's pooled rows (embedding requests), likewise. */
  private hiddenBuf = new Float32Array(0);
  /** Requests whose mask was late, with the logits they will sample from. */
  private readonly late = new Map<Request, LateSample>();

  constructor(private readonly model: LoadedModel, private readonly runner: ModelRunner, private readonly scheduler: Scheduler,
    private readonly speculator: Speculator | null, private readonly host: StepHost) {}

  /** One step; false when there was nothing to run. */
  async run(): Promise<boolean> {
    const t0 = performance.now();
    // 0. Requests whose mask came late take their token first.
    const late = takeLate(this.late);
    if (late) await this.postprocess(late);
    // Loads from the disk tier that came in, and writes and loads to start.
    this.host.tiersStep();
    // 1. Schedule.
    const batch = this.scheduler.schedule();
    if (!batch) return late !== null;
    const { plan, rows, hidden } = buildStepPlan(batch);
    // 2. Forward. The grammar worker computes masks meanwhile, and the waiting requests are
    // matched for the next step's admissions.
    const masks = prepareMasks(rows, () => this.host.flushGrammar());
    const h = this.model.config.hiddenSize;
    if (this.hiddenBuf.length < hidden.length * h) this.hiddenBuf = new Float32Array(hidden.length * h);
    const forward = this.runner.forward(plan, this.logitsFor(rows.length), hidden.length > 0 ? this.hiddenBuf : undefined);
    this.scheduler.prepare();
    let logits: Float32Array;
    try {
      logits = await forward;
    } catch (err) {
      // Only the requests in this batch fail; the engine goes on with the next step.
      this.host.emit(this.scheduler.failBatch(batch, err));
      return true;
    }
    this.steps++;
    this.scheduler.complete(batch);
    // Embedding and scoring requests take their rows and are done once their prompt is.
    const pooled = poolStep(batch, rows, logits, this.model.config.vocabSize, hidden, this.hiddenBuf, h);
    this.host.emit(pooled.flatMap((r) => this.scheduler.finish(r, "stop")));
    // 3. Sample. A mask that is late (its grammar worker is busy compiling) does not hold up
    // the batch: that request keeps its logits and is sampled when the mask comes.
    const waited = performance.now();
    await settleMasks(masks, MASK_GRACE_MS);
    const maskWait = performance.now() - waited;
    const s = sampleRows(rows, logits, this.model.config.vocabSize, masks);
    for (const h of s.held) {
      const mask = masks.get(h.req)!;
      this.late.set(h.req, h.verify ? { logits: h.logits, mask, verify: h.verify } : { logits: h.logits, mask });
      void mask.done.then(() => this.host.kick());
    }
    // 4. Postprocess, 5. emit.
    await this.postprocess(s);
    // The whole step but the wait for late masks: what speculative decoding weighs a draft row against.
    if (batch.prefillTokens === 0) this.speculator?.observeStep(plan.tokens.length, plan.tokens.length - draftRows(batch.entries), performance.now() - t0 - maskWait);
    return true;
  }

  private async postprocess(s: SampledStep): Promise<void> {
    this.generated += s.sampled.length;
    const events = s.failed.flatMap((f) => this.scheduler.fail(f.req, f.error));
    events.push(...this.scheduler.postprocess(s.sampled, s.limited));
    let verified: readonly Request[] = [];
    if (s.verify.length > 0) {
      const v = verifyDrafts(s.verify, this.model.config.vocabSize, this.scheduler, this.speculator!);
      this.generated += v.tokens;
      events.push(...v.events);
      verified = v.requests;
    }
    this.host.emit(events);
    // Jump-forward: the constrained samples that go on append the text their grammar forces now.
    this.host.emit(await jumpForward([...s.sampled.map((x) => x.req), ...verified], this.scheduler));
  }

  /** The logits buffer, long enough for `rows` rows. */
  private logitsFor(rows: number): Float32Array {
    // Steps never overlap and the previous one's logits are consumed by now, so one buffer
    // serves every step; fresh arrays per step would pile up faster than V8 collects them.
    const need = rows * this.model.config.vocabSize;
    if (this.logitsBuf.length < need) this.logitsBuf = new Float32Array(Math.max(need, this.logitsBuf.length * 2));
    return this.logitsBuf;
  }
}
