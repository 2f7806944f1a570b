// Explicit cache sessions: POST /save_cache pins a prefix at a tier (engine/cache-pins.ts),
// POST /load_cache puts one into the KV pool now (loaded from the disk tier where it is there,
// computed where not) so that the next request starts at once, POST /release_cache unpins,
// and GET /pinned_cache lists the pins (ids, tiers and sizes: never their tokens or salts).
// The prefix is given as /generate takes it (text or input_ids) or as a chat (messages), with
// its cache_salt: a salted prefix is pinned, stored and found again only in its namespace.
import type { FastifyInstance } from "fastify";
import { PIN_TIERS, type PinTier } from "../engine/cache-pins.js";
import type { CacheTiers } from "../engine/cache-tiers.js";
import { ApiError, badRequest } from "./errors.js";
import { chatSchema, type ChatBody } from "./schema.js";
import type { Serving } from "./serving.js";

type Schema = Record<string, unknown>;

const prefixSchema: Schema = {
  type: "object",
  description: "a JSON object",
  properties: {
    text: { type: ["string", "null"], description: "a string" },
    input_ids: { type: ["array", "null"], items: { type: "integer" }, minItems: 1, description: "a non-empty list of token ids" },
    messages: chatSchema.properties.messages,
    cache_salt: { type: ["string", "null"], description: "a string" },
    tier: { type: ["string", "null"], enum: [...PIN_TIERS, null], description: `one of ${PIN_TIERS.join(", ")}` },
    model: { type: ["string", "null"], description: "a string" },
  },
};

const releaseSchema: Schema = {
  type: "object",
  required: ["id"],
  description: "a JSON object",
  properties: { id: { type: "string", maxLength: 64, description: "a pin id from /save_cache" } },
};

interface PrefixBody {
  text?: string | null;
  input_ids?: number[] | null;
  messages?: ChatBody["messages"] | null;
  cache_salt?: string | null;
  tier?: PinTier | null;
}

/** The prefix's ids: exactly one of text, input_ids and messages, shorter than the context (as any prompt). */
async function prefixIds(s: Serving, b: PrefixBody): Promise<number[]> {
  const given = [b.text, b.input_ids, b.messages].filter((x) => x != null).length;
  if (given !== 1) throw badRequest("text", "Give exactly one of 'text', 'input_ids' and 'messages'.");
  let ids: number[];
  if (b.text != null) ids = (await s.promptIds([b.text], { prompt: "text" }))[0]!;
  else if (b.messages != null) ids = (await s.chatPrompt(b.messages)).ids;
  else {
    ids = b.input_ids!;
    s.checkIds(ids, "input_ids");
  }
  if (ids.length + 1 > s.contextLength) {
    throw badRequest(b.text != null ? "text" : b.messages != null ? "messages" : "input_ids",
      `The prefix has ${ids.length} tokens; at most ${s.contextLength - 1} can be cached (the context is ${s.contextLength}).`, "context_length_exceeded");
  }
  return ids;
}

/** The engine's cache tiers; a 400 when the radix cache is off. */
function tiers(s: Serving): CacheTiers {
  if (!s.engine.cacheTiers) throw badRequest("input_ids", "The server runs without the radix cache (--disable-radix-cache): there is nothing to pin or load.");
  return s.engine.cacheTiers;
}

export function registerCacheRoutes(app: FastifyInstance, serving: () => Serving): void {
  app.post("/save_cache", { schema: { body: prefixSchema } }, async (req) => {
    const s = serving();
    const b = req.body as PrefixBody;
    const ids = await prefixIds(s, b);
    const pin = await tiers(s).pin({ ids, salt: b.cache_salt ?? "", tier: b.tier ?? "disk" });
    return { object: "cache.pin", ...pin };
  });

  app.post("/load_cache", { schema: { body: prefixSchema } }, async (req) => {
    const s = serving();
    const b = req.body as PrefixBody;
    if (b.tier != null) throw badRequest("tier", "'tier' is for /save_cache; /load_cache puts the prefix into RAM.");
    const ids = await prefixIds(s, b);
    const { cachedTokens } = await s.engine.warm(ids, b.cache_salt ?? "");
    return { object: "cache.load", tokens: ids.length, cached_tokens: cachedTokens, computed_tokens: ids.length - cachedTokens };
  });

  app.post("/release_cache", { schema: { body: releaseSchema } }, async (req) => {
    const id = (req.body as { id: string }).id;
    if (!serving().engine.cacheTiers?.unpin(id)) throw new ApiError(404, `No pinned prefix has the id '${id}'.`, "invalid_request_error", "id", "not_found");
    return { object: "cache.pin.released", id, released: true };
  });

  app.get("/pinned_cache", async () => ({ object: "list", data: serving().engine.cacheTiers?.pinned() ?? [] }));
}
