// What a request is routed by: the prompt a worker will compute, as text code points (what
// SGLang's router keys its tree by) or, where the router has the model's tokenizer and chat
// template, the very token ids the worker will cache. The prompt is read from each route's
// own field; a body that names none routes by nothing (a balance-only choice).
import type { ChatRenderer } from "../engine/chat.js";
import type { ChatMessage, ToolSpec } from "../tokenizer/chat-template.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import type { RouteRequest } from "./policies.js";

/** The tokenizer and chat template the workers use, when the router was given the model. */
export interface Prompting {
  readonly tokenizer: Tokenizer;
  readonly chat: ChatRenderer;
}

/** Most code points or tokens of a request the router keys by (a prompt's head is what is shared). */
export const MAX_ROUTING_KEYS = 1 << 16;
/** Most characters of a prompt the router tokenizes. */
const MAX_ROUTING_CHARS = 256 * 1024;

type Body = Record<string, unknown>;

const isObject = (v: unknown): v is Body => typeof v === "object" && v !== null && !Array.isArray(v);
const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number");

function contentText(c: unknown): string {
  if (typeof c === "string") return c;
  if (Array.isArray(c)) return c.map((p) => (isObject(p) && typeof p.text === "string" ? p.text : "")).join("");
  return "";
}

/** A conversation as plain text, for routing without the chat template: the same conversations give the same text. */
function messagesText(messages: unknown): string {
  if (!Array.isArray(messages)) return "";
  return messages.map((m) => (isObject(m) ? `${String(m.role)}\n${contentText(m.content)}\n` : "")).join("");
}

/** The prompt of a request to `route`: text, or ids (already token ids). */
function promptOf(route: string, b: Body): { text: string; ids?: number[]; chat?: { messages: ChatMessage[]; tools?: ToolSpec[]; kwargs?: Body } } {
  switch (route) {
    case "/v1/chat/completions":
      return { text: messagesText(b.messages), chat: Array.isArray(b.messages) ? {
        messages: b.messages as ChatMessage[], tools: Array.isArray(b.tools) ? b.tools as ToolSpec[] : undefined,
        kwargs: isObject(b.chat_template_kwargs) ? b.chat_template_kwargs : undefined,
      } : undefined };
    case "/v1/completions":
    case "/generate": {
      const p = route === "/generate" ? (b.text ?? b.input_ids) : b.prompt;
      const first = Array.isArray(p) && !isIds(p) ? p[0] : p;
      return isIds(first) ? { text: "", ids: first } : { text: typeof first === "string" ? first : "" };
    }
    case "/v1/embeddings": {
      const first = Array.isArray(b.input) && !isIds(b.input) ? b.input[0] : b.input;
      return isIds(first) ? { text: "", ids: first } : { text: typeof first === "string" ? first : "" };
    }
    case "/v1/rerank":
    case "/rerank":
      return { text: typeof b.query === "string" ? b.query : "" };
    case "/v1/responses": {
      const input = typeof b.input === "string" ? b.input : Array.isArray(b.input) ? messagesText(b.input) : "";
      return { text: (typeof b.instructions === "string" ? b.instructions + "\n" : "") + input };
    }
    default:
      return { text: "" };
  }
}

function codePoints(text: string, max: number): number[] {
  const out: number[] = [];
  for (const ch of text) {
    if (out.length >= max) break;
    out.push(ch.codePointAt(0)!);
  }
  return out;
}

/**
 * The routing request of a body sent to `route`. With `prompting`, a chat conversation is
 * rendered and a text encoded as the workers will (a conversation the template rejects routes
 * by its text; the worker then answers the error).
 */
export function routeRequest(route: string, body: unknown, prompting: Prompting | null): RouteRequest {
  const b = isObject(body) ? body : {};
  const salt = typeof b.cache_salt === "string" ? b.cache_salt : "";
  const p = promptOf(route, b);
  if (p.ids) {
    const ids = p.ids.slice(0, MAX_ROUTING_KEYS);
    return { keys: ids, tokenIds: ids, salt };
  }
  if (prompting) {
    try {
      const full = p.chat ? prompting.chat.render(p.chat.messages, p.chat.tools, p.chat.kwargs) : p.text;
      // Only the head is tokenized, on the event loop; the tokens at the cut may differ from the
      // worker's, so they are dropped.
      const cut = full.length > MAX_ROUTING_CHARS;
      const text = cut ? full.slice(0, MAX_ROUTING_CHARS) : full;
      // A chat prompt has its BOS from the template; a raw prompt gets the model's.
      let ids = prompting.tokenizer.encode(text, { addSpecial: !p.chat, parseSpecial: true });
      if (cut) ids = ids.slice(0, Math.max(0, ids.length - 8));
      ids = ids.slice(0, MAX_ROUTING_KEYS);
      return { keys: ids, tokenIds: ids, salt };
    } catch {
      // fall through to the text
    }
  }
  return { keys: codePoints(p.text, MAX_ROUTING_KEYS), salt };
}
