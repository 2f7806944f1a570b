// The numeric ranges written in place of xgrammar's, and its string rule fix, checked value
// by value against the grammar xgrammar itself accepts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { extractRanges, fixJsonStringRule, insertRanges } from "../../src/structured/json-schema.js";
import { neverUtf8 } from "../../src/structured/vocab.js";
import { loadXgrammar } from "../../src/structured/xgrammar-shim.js";

interface Testings {
  _jsonSchemaToEBNF(s: string, anyWs: boolean, indent: number, sep: undefined, strict: boolean, maxWs: number): Promise<string>;
  isGrammarAcceptString(g: unknown, s: string): Promise<boolean>;
}
interface GrammarStatic {
  fromEBNF(ebnf: string): Promise<unknown>;
}

const xg = loadXgrammar().xg as unknown as { Testings: Testings; Grammar: GrammarStatic };

async function acceptor(schema: Record<string, unknown>): Promise<(s: string) => Promise<boolean>> {
  const r = extractRanges(schema);
  const ebnf = insertRanges(fixJsonStringRule(await xg.Testings._jsonSchemaToEBNF(JSON.stringify(r.schema), true, -1, undefined, true, 2)), r.rules);
  const g = await xg.Grammar.fromEBNF(ebnf);
  return (s) => xg.Testings.isGrammarAcceptString(g, s);
}

test("bounded integers: exactly the values in range", async () => {
  const cases: [Record<string, unknown>, number, number][] = [
    [{ type: "integer", minimum: 0, maximum: 120 }, -20, 140],
    [{ type: "integer", minimum: -57, maximum: 1003 }, -120, 1100],
    [{ type: "integer", exclusiveMinimum: 5, exclusiveMaximum: 17 }, 0, 25],
    [{ type: "integer", minimum: 10 }, -5, 40],
    [{ type: "integer", maximum: -3 }, -30, 10],
  ];
  for (const [schema, from, to] of cases) {
    const accepts = await acceptor(schema);
    for (let v = from; v <= to; v++) {
      const lo = (schema.minimum as number | undefined) ?? ((schema.exclusiveMinimum as number | undefined) ?? -Infinity) + (schema.exclusiveMinimum !== undefined ? 1 : 0);
      const hi = (schema.maximum as number | undefined) ?? ((schema.exclusiveMaximum as number | undefined) ?? Infinity) - (schema.exclusiveMaximum !== undefined ? 1 : 0);
      assert.equal(await accepts(String(v)), v >= lo && v <= hi, `${JSON.stringify(schema)} at ${v}`);
    }
    assert.equal(await accepts("007"), false);
  }
});

test("bounded numbers: nothing outside the range is accepted", async () => {
  const cases: [number, number][] = [[-1.5, 99.5], [0, 1], [-40.5, 60], [2.25, 3]];
  for (const [min, max] of cases) {
    const accepts = await acceptor({ type: "number", minimum: min, maximum: max });
    let inside = 0;
    for (let v = Math.floor(min) - 2; v <= max + 2; v += 0.25) {
      const ok = await accepts(String(v));
      if (ok) {
        inside++;
        assert.ok(v >= min && v <= max, `[${min}, ${max}] accepted ${v}`);
      }
    }
    assert.ok(inside > 0);
  }
});

test("bounded strings exclude raw control characters; tokens that are never UTF-8 are found", async () => {
  const accepts = await acceptor({ type: "string", maxLength: 5 });
  assert.equal(await accepts('"ab"'), true);
  assert.equal(await accepts('"a\u000bb"'), false);
  assert.equal(neverUtf8(Uint8Array.of(0x61, 0xc0, 0x80)), true);
  assert.equal(neverUtf8(Uint8Array.of(0xf7, 0xa8)), true);
  assert.equal(neverUtf8(Uint8Array.of(0xe0, 0x80)), true);
  assert.equal(neverUtf8(Uint8Array.of(0xed, 0xa0)), true);
  assert.equal(neverUtf8(Uint8Array.of(0xe2, 0x82, 0xac)), false);
  assert.equal(neverUtf8(Uint8Array.of(0xe0)), false);
});
