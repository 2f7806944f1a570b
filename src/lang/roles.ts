// Role blocks through the model's own chat template. SGLang keeps a table of each role's
// prefix and suffix per model family; here they come from the template itself: render the
// conversation so far, render it again with one more message whose content is a marker,
// and the text around the marker is that role's prefix and suffix. So a program may append
// text and run gens inside a turn, and the prompt still reads as the template writes it.
import { ChatTemplate, ChatTemplateError, type ChatMessage } from "../tokenizer/chat-template.js";
import { LangError, type ModelFacts } from "./backend.js";

export type Role = "system" | "user" | "assistant";

export interface RoleText {
  readonly prefix: string;
  readonly suffix: string;
}

const MARKER = "RADIXLMCONTENTMARKER";

export class RoleRenderer {
  private readonly template: ChatTemplate;
  private trailerText: string | null = null;

  constructor(private readonly facts: ModelFacts) {
    if (facts.chatTemplate === null) throw new LangError(facts.chatTemplateMissing ?? "the backend knows no chat template");
    try {
      this.template = new ChatTemplate(facts.chatTemplate, { bosToken: facts.bosToken, eosToken: facts.eosToken });
    } catch (err) {
      throw new LangError(`the model's chat template does not parse: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** The text that opens and closes a `role` turn after the turns of `history`. */
  roleText(role: Role, history: readonly ChatMessage[]): RoleText {
    const withMarker = this.render([...history, { role, content: MARKER }], role);
    const at = withMarker.indexOf(MARKER);
    if (at < 0 || withMarker.indexOf(MARKER, at + 1) >= 0) {
      throw new LangError(`the chat template does not show a ${role} turn's content once, as written; role helpers cannot use it`);
    }
    // What the template writes after the last turn whatever it is (Phi-3.5's EOS) stays out
    // of the turns: the prompt goes on after them.
    const trailer = this.trailer();
    const end = trailer !== "" && withMarker.endsWith(trailer) ? withMarker.length - trailer.length : withMarker.length;
    // The first turn's prefix carries whatever the template writes before any message
    // (BOS, a default system prompt); later turns start where the conversation so far ends.
    let before = history.length === 0 ? "" : this.render(history, role);
    if (end < withMarker.length && before.endsWith(trailer)) before = before.slice(0, before.length - trailer.length);
    if (!withMarker.startsWith(before) || before.length > at || end < at + MARKER.length) {
      // Command R's tool-use templates write a trailer after the last turn that depends on
      // the turns: no text of a turn's own can reproduce them.
      throw new LangError(`the chat template does not render a conversation turn by turn (adding a ${role} turn rewrites the text before it); role helpers cannot use it`);
    }
    let prefix = withMarker.slice(before.length, at);
    // The tokenizer writes BOS itself; the template's would double it.
    const bos = this.facts.bosToken;
    if (history.length === 0 && this.facts.addsBos && bos && prefix.startsWith(bos)) prefix = prefix.slice(bos.length);
    return { prefix, suffix: withMarker.slice(at + MARKER.length, end) };
  }

  /** The template's render of no messages, when that is only a trailer (it renders no header of its own). */
  private trailer(): string {
    if (this.trailerText === null) {
      try {
        this.trailerText = this.template.render([]);
      } catch {
        this.trailerText = "";
      }
      // A BOS or a default system turn is a header, not a trailer; a template's header is
      // what a first turn starts with.
      const first = this.safeRender([{ role: "user", content: MARKER }]);
      if (first === null || first.startsWith(this.trailerText) || !first.endsWith(this.trailerText)) this.trailerText = "";
    }
    return this.trailerText;
  }

  private safeRender(messages: readonly ChatMessage[]): string | null {
    try {
      return this.template.render(messages);
    } catch {
      return null;
    }
  }

  private render(messages: readonly ChatMessage[], role: Role): string {
    try {
      return this.template.render(messages);
    } catch (err) {
      const why = err instanceof ChatTemplateError ? err.message : String(err);
      throw new LangError(`the chat template rejects a ${role} turn here: ${why}`, { cause: err });
    }
  }
}
