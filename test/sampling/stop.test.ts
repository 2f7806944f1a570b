import assert from "node:assert/strict";
import { test } from "node:test";
import { StopMatcher } from "../../src/sampling/stop.js";
import { mulberry32 } from "../../src/util/random.js";

/** The whole text cut where a stop first completes (longest such stop on a tie); null: no stop. */
function cutWhole(text: string, stops: readonly string[]): string | null {
  for (let end = 1; end <= text.length; end++) {
    let start = -1;
    for (const s of stops) if (end >= s.length && text.slice(end - s.length, end) === s && (start < 0 || end - s.length < start)) start = end - s.length;
    if (start >= 0) return text.slice(0, start);
  }
  return null;
}

/** Length of the longest tail of text that is a proper prefix of a stop. */
function partialTail(text: string, stops: readonly string[]): number {
  for (let len = text.length; len > 0; len--) {
    const tail = text.slice(text.length - len);
    if (stops.some((s) => s.length > len && s.startsWith(tail))) return len;
  }
  return 0;
}

function splits(text: string, rand: () => number): string[] {
  const parts: string[] = [];
  let i = 0;
  while (i < text.length) {
    const len = rand() < 0.2 ? 0 : 1 + Math.floor(rand() * 4);
    parts.push(text.slice(i, i + len));
    i += len;
  }
  return parts;
}

/** Streams the deltas; checks every intermediate state; returns the output and whether it stopped. */
function stream(deltas: string[], stops: readonly string[]): { out: string; stopped: boolean } {
  const m = new StopMatcher(stops);
  const whole = deltas.join("");
  const final = cutWhole(whole, stops) ?? whole;
  let out = "";
  let seen = "";
  for (const d of deltas) {
    const r = m.push(d);
    out += r.emit;
    seen += d;
    assert.ok(final.startsWith(out), `emitted ${JSON.stringify(out)}, which is not a prefix of ${JSON.stringify(final)}`);
    if (r.stopped) return { out, stopped: true };
    // holds back exactly the longest tail that could still start a stop
    assert.equal(m.pending.length, partialTail(seen, stops), `holding ${JSON.stringify(m.pending)} after ${JSON.stringify(seen)}`);
    assert.equal(out + m.pending, seen);
  }
  return { out: out + m.flush(), stopped: false };
}

test("a stop string is cut out with everything after it", () => {
  const m = new StopMatcher(["END"]);
  assert.deepEqual(m.push("Hello"), { emit: "Hello", stopped: false });
  assert.deepEqual(m.push(" world E"), { emit: " world ", stopped: false });
  assert.equal(m.pending, "E");
  assert.deepEqual(m.push("N"), { emit: "", stopped: false });
  assert.deepEqual(m.push("D and more"), { emit: "", stopped: true });
  assert.equal(m.stopped, true);
  assert.equal(m.matched, "END");
  assert.deepEqual(m.push("later"), { emit: "", stopped: true });
  assert.equal(m.flush(), "");
});

test("a near miss is released as soon as it cannot be a stop, and at flush", () => {
  const m = new StopMatcher(["\n\n"]);
  assert.deepEqual(m.push("a\n"), { emit: "a", stopped: false });
  assert.deepEqual(m.push("b"), { emit: "\nb", stopped: false });
  assert.deepEqual(m.push("c\n"), { emit: "c", stopped: false });
  assert.equal(m.flush(), "\n");
  assert.equal(m.stopped, false);
  assert.equal(m.matched, undefined);
  const none = new StopMatcher([]);
  assert.deepEqual(none.push("anything\n\n"), { emit: "anything\n\n", stopped: false });
  assert.throws(() => new StopMatcher([""]), /non-empty/);
});

test("overlapping and nested stops: the first to complete wins", () => {
  // "abab" needs the whole "aba" held: a shorter hold would leak "ab"
  assert.deepEqual(stream(["xab", "a", "b!"], ["abab"]), { out: "x", stopped: true });
  // "bc" completes before "abcd" could
  assert.deepEqual(stream(["a", "b", "c", "d"], ["abcd", "bc"]), { out: "a", stopped: true });
  assert.deepEqual(stream(["abcd"], ["abcd", "bc"]), { out: "a", stopped: true });
  // completing together: the longer one (starting earlier) is cut
  const m = new StopMatcher(["c", "abc"]);
  assert.deepEqual(m.push("xabc"), { emit: "x", stopped: true });
  assert.equal(m.matched, "abc");
  // a stop inside a single delta, far from its edges
  assert.deepEqual(stream(["one STOP two"], ["STOP"]), { out: "one ", stopped: true });
  // non-ASCII text and stops
  assert.deepEqual(stream(["héllo ", "wö", "rld 🙂", " more"], ["wörld 🙂"]), { out: "héllo ", stopped: true });
});

test("any split of a text into deltas gives the same output as cutting the whole text", () => {
  const rand = mulberry32(123);
  const alphabet = "ab\n<|/>";
  const pick = (len: number): string => Array.from({ length: len }, () => alphabet[Math.floor(rand() * alphabet.length)]).join("");
  let stoppedRuns = 0;
  for (let trial = 0; trial < 400; trial++) {
    const stops = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => pick(1 + Math.floor(rand() * 5)));
    const text = pick(Math.floor(rand() * 60));
    const want = cutWhole(text, stops);
    for (let k = 0; k < 20; k++) {
      const r = stream(splits(text, rand), stops);
      assert.equal(r.out, want ?? text, `stops ${JSON.stringify(stops)}, text ${JSON.stringify(text)}`);
      assert.equal(r.stopped, want !== null);
    }
    if (want !== null) stoppedRuns++;
  }
  assert.ok(stoppedRuns > 100 && stoppedRuns < 390, `${stoppedRuns} of 400 texts stop: both cases are exercised`);
});
