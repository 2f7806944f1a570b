// The disk tier's side of admission (engine/disk-tier.ts implements it). A request whose prefix
// continues on disk is admitted with slots for that part, which the loader fills while the
// request runs no rows; the engine then calls Scheduler.loaded. So loads are admissions:
// bounded, and accounted, as they are.
import type { DiskRun } from "../kvcache/prefix-cache.js";
import type { Request } from "./request.js";

export interface DiskLoader {
  /** Whether `req` loads what the disk holds of its prefix (not after a failed load: it computes instead). */
  wants(req: Request): boolean;
  /** Starts loading `runs` (positions from req.prefixLength on) into `slots`. */
  load(req: Request, runs: readonly DiskRun[], slots: Int32Array): void;
}
