// The disk store's open: the segment files in a directory scanned for their records (side by
// side: each scan is a chain of small reads), oldest segment first so that the newest copy of a
// key comes last. Leftover manifest temp files go; an unfinished last write is cut off; damaged
// stretches, unreadable metadata and another fingerprint's records are dropped, each kind with
// one warning line.
import { readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { SEGMENT_RE, type Segment, type SegmentFiles } from "./disk-files.js";
import { decodeMeta } from "./disk-item.js";
import { MANIFEST_TEMP_RE } from "./disk-manifest.js";
import { FLAG_DEAD, scanSegment, type ScannedRecord } from "./disk-segment.js";

export interface FoundRecord {
  readonly seg: Segment;
  readonly rec: ScannedRecord;
  /** A deleted item's record: what an older record of its key held is gone too. */
  readonly dead: boolean;
}

/** The good records of `dir`'s segments (opened into `files`), in file order, and how many were dropped. */
export async function scanStore(dir: string, files: SegmentFiles, fpHash: Buffer, warn: (line: string) => void): Promise<{ found: FoundRecord[]; dropped: number; foreign: number; foreignBytes: number }> {
  const names = await readdir(dir);
  for (const n of names) if (MANIFEST_TEMP_RE.test(n)) await unlink(join(dir, n)).catch(() => undefined);
  const ids = names.map((n) => Number(SEGMENT_RE.exec(n)?.[1])).filter(Number.isInteger);
  ids.sort((a, b) => a - b);
  const segs = await files.openExisting(ids);
  const scans = await Promise.all(segs.map((seg) => scanSegment(seg.fh, seg.size, fpHash)));
  const found: FoundRecord[] = [];
  let dropped = 0;
  let foreign = 0;
  let foreignBytes = 0;
  for (const [i, seg] of segs.entries()) {
    const scan = scans[i]!;
    let badMeta = 0;
    for (const rec of scan.records) {
      if (rec.foreign) {
        foreign++;
        foreignBytes += rec.recordBytes;
        continue;
      }
      const dead = (rec.flags & FLAG_DEAD) !== 0;
      if (!dead) {
        try {
          decodeMeta(rec.flags, rec.meta);
        } catch {
          badMeta++;
          continue;
        }
      }
      found.push({ seg, rec, dead });
    }
    const tail = seg.size - scan.validEnd;
    if (tail > 0) await files.truncate(seg, scan.validEnd); // an unfinished last write
    if (scan.damaged + badMeta > 0 || tail > 0) {
      dropped += scan.damaged + badMeta + (tail > 0 ? 1 : 0);
      const parts = [];
      if (scan.damaged > 0) parts.push(`${scan.damaged} damaged stretch(es) of ${scan.damagedBytes} bytes skipped`);
      if (badMeta > 0) parts.push(`${badMeta} record(s) with unreadable metadata dropped`);
      if (tail > 0) parts.push(`${tail} bytes of an unfinished record at the end truncated`);
      warn(`disk store: ${seg.name}: ${parts.join(", ")}; ${scan.records.length} good record(s) kept`);
    }
  }
  return { found, dropped, foreign, foreignBytes };
}
