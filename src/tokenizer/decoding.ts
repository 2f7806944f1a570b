// What a tokenizer.json `decoder` does, reduced to bytes per token: byte-level decoders map the
// alphabet back to bytes; SentencePiece-style ones turn "▁" into a space, <0xNN> into a byte and
// drop the space in front of the first token. Decoding is then concatenating bytes, which the
// incremental detokenizer can do token by token with the same result.
import { byteLevelDecode } from "./byte-level.js";

export type DecodeScheme =
  | { kind: "byte-level" }
  | {
      kind: "metaspace";
      replacement: string;
      byteFallback: boolean;
      /** "text": a leading space of the whole output goes (Strip); "token": the first token's "▁" goes (Metaspace). */
      stripFirst: "text" | "token" | "none";
    }
  /** Anything else (WordPiece, CTC, ...): decode() asks the JS library; bytes are the token's UTF-8. */
  | { kind: "library" };

const utf8 = new TextEncoder();
const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;

export function decodeScheme(decoder: unknown): DecodeScheme {
  const steps = flatten(decoder);
  if (steps.length === 0) return { kind: "library" };
  if (steps.every((s) => s.type === "ByteLevel")) return { kind: "byte-level" };
  let replacement: string | undefined;
  let byteFallback = false;
  let stripFirst: "text" | "token" | "none" = "none";
  for (const s of steps) {
    const pattern = s.pattern as Record<string, unknown> | undefined;
    if (s.type === "Replace" && typeof pattern?.String === "string" && s.content === " ") replacement = pattern.String;
    else if (s.type === "Metaspace") {
      replacement = typeof s.replacement === "string" ? s.replacement : "\u2581";
      const scheme = typeof s.prepend_scheme === "string" ? s.prepend_scheme : s.add_prefix_space === false ? "never" : "always";
      if (scheme !== "never") stripFirst = "token";
    } else if (s.type === "ByteFallback") byteFallback = true;
    else if (s.type === "Fuse") continue;
    else if (s.type === "Strip" && s.content === " " && s.stop === 0 && (s.start === 0 || s.start === 1)) {
      if (s.start === 1) stripFirst = "text";
    }
    else return { kind: "library" };
  }
  if (replacement === undefined || replacement.length === 0) return { kind: "library" };
  return { kind: "metaspace", replacement, byteFallback, stripFirst };
}

function flatten(cfg: unknown): Record<string, unknown>[] {
  if (typeof cfg !== "object" || cfg === null) return [];
  const c = cfg as Record<string, unknown>;
  if (c.type === "Sequence") return Array.isArray(c.decoders) ? c.decoders.flatMap(flatten) : [];
  return [c];
}

/** The bytes of one token under a scheme; `added` tokens keep their text as is in byte-level vocabularies. */
export function schemeTokenBytes(scheme: DecodeScheme, token: string, added: boolean): Uint8Array {
  switch (scheme.kind) {
    case "byte-level":
      return (added ? null : byteLevelDecode(token)) ?? utf8.encode(token);
    case "metaspace":
      if (scheme.byteFallback && token.length === 6 && BYTE_TOKEN.test(token)) return Uint8Array.of(parseInt(token.slice(3, 5), 16));
      return utf8.encode(token.replaceAll(scheme.replacement, " "));
    case "library":
      return utf8.encode(token);
  }
}

/** `bytes` as the first token of a decoded sequence, with the space the encoder added removed. */
export function firstPieceBytes(scheme: DecodeScheme, token: string, bytes: Uint8Array): Uint8Array {
  if (scheme.kind !== "metaspace" || bytes.length === 0 || bytes[0] !== 0x20) return bytes;
  if (scheme.stripFirst === "text" || (scheme.stripFirst === "token" && token.startsWith(scheme.replacement))) return bytes.subarray(1);
  return bytes;
}
