// API key check: `Authorization: Bearer KEY` (what OpenAI clients send) or `x-api-key: KEY`.
// Both sides are hashed first, so the comparison is constant-time whatever the lengths.
// Health checks and metrics stay open, as in SGLang, so probes and scrapers need no key.
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { ApiError } from "./errors.js";

const OPEN_PATHS = new Set(["/health", "/health_generate", "/metrics"]);

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

export function keysEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function presentedKey(req: FastifyRequest): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === "string") {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    return m ? m[1]!.trim() : null;
  }
  const x = req.headers["x-api-key"];
  return typeof x === "string" ? x.trim() : null;
}

/** Throws a 401 ApiError unless the request carries the key (or needs none). */
export function checkApiKey(req: FastifyRequest, expected: string): void {
  const path = req.url.split("?")[0]!;
  if (OPEN_PATHS.has(path)) return;
  const key = presentedKey(req);
  if (key === null) {
    throw new ApiError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.", "invalid_request_error", null, "missing_api_key",
      { "www-authenticate": "Bearer" });
  }
  if (!keysEqual(key, expected)) {
    throw new ApiError(401, "Incorrect API key provided.", "invalid_request_error", null, "invalid_api_key", { "www-authenticate": "Bearer" });
  }
}
