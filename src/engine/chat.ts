// A chat conversation as prompt text: OpenAI-shaped messages (and tool definitions) rendered by
// the model's own chat template, ending with the header of the assistant's turn. This is the one
// rendering path: the engine's `messages` inputs, the server's chat routes and /tokenize, and
// `radixlm generate --chat` all go through ChatRenderer, so one conversation is one prompt
// everywhere.
import type { LoadedModel } from "../model/load.js";
import { ChatTemplate, CHATML_TEMPLATE, ChatTemplateError, type ChatMessage, type ToolSpec } from "../tokenizer/chat-template.js";

/** Roles a chat message may have, as OpenAI's API accepts them. */
export const CHAT_ROLES = ["system", "developer", "user", "assistant", "tool", "function"] as const;

export class ChatRenderer {
  readonly template: ChatTemplate;
  /** Why the model's own template is not used (it does not parse, so ChatML stands in), or null. */
  readonly fallbackReason: string | null = null;

  constructor(model: LoadedModel) {
    const tok = model.tokenizer;
    const name = (id: number | null | undefined): string | undefined => (id === null || id === undefined ? undefined : tok.idToToken(id));
    const tokens = { bosToken: name(model.config.bosTokenId), eosToken: name(model.config.eosTokenIds[0]) };
    let template: ChatTemplate | null = null;
    if (model.chatTemplate !== null) {
      try {
        template = new ChatTemplate(model.chatTemplate, tokens);
      } catch (err) {
        if (!(err instanceof ChatTemplateError)) throw err;
        this.fallbackReason = `the model's chat template does not parse (${err.message}); using ChatML`;
      }
    }
    // A model without a template is talked to in ChatML, as most open chat models are.
    this.template = template ?? new ChatTemplate(CHATML_TEMPLATE, tokens);
  }

  /**
   * The prompt text of a conversation, with the generation prompt. OpenAI's "developer" role is
   * the system role to open models' templates; a message without content has null content.
   * Throws ChatTemplateError when the template rejects the conversation.
   */
  render(messages: readonly ChatMessage[], tools?: readonly ToolSpec[], kwargs?: Readonly<Record<string, unknown>>): string {
    const shaped = messages.map((m) => ({ ...m, role: m.role === "developer" ? "system" : m.role, content: m.content ?? null }));
    return this.template.render(shaped, { addGenerationPrompt: true, tools: tools ? [...tools] : undefined, extra: kwargs ? { ...kwargs } : undefined });
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * What is wrong with messages given by a caller who skipped the server's schema (the engine's
 * `messages` input), or null: the same shape the server's schema accepts.
 */
export function messagesProblem(messages: unknown): string | null {
  if (!Array.isArray(messages) || messages.length === 0) return "messages must be a non-empty list of messages";
  for (const [i, m] of messages.entries()) {
    const at = `messages[${i}]`;
    if (!isObject(m)) return `${at} must be an object with a role and content`;
    if (typeof m.role !== "string" || !(CHAT_ROLES as readonly string[]).includes(m.role)) {
      return `${at}.role must be one of ${CHAT_ROLES.join(", ")}, got ${typeof m.role === "string" ? JSON.stringify(m.role.slice(0, 40)) : String(m.role)}`;
    }
    const c = m.content;
    if (!(c === undefined || c === null || typeof c === "string" || (Array.isArray(c) && c.every((p) => isObject(p) && typeof p.type === "string")))) {
      return `${at}.content must be a string, null or a list of content parts ({"type": ...})`;
    }
    if (m.tool_calls !== undefined && m.tool_calls !== null) {
      if (!Array.isArray(m.tool_calls) || !m.tool_calls.every((t) => isObject(t) && isObject(t.function) && typeof t.function.name === "string")) {
        return `${at}.tool_calls must be a list of {"function": {"name", "arguments"}}`;
      }
    }
  }
  return null;
}

/** What is wrong with tool definitions, or null. */
export function toolsProblem(tools: unknown): string | null {
  if (!Array.isArray(tools) || !tools.every((t) => isObject(t) && isObject(t.function) && typeof t.function.name === "string")) {
    return 'tools must be a list of {"type": "function", "function": {"name", "description", "parameters"}}';
  }
  return null;
}
