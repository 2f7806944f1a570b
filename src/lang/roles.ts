// Role blocks through the model's own chat template. SGLang keeps a table of each role's
// prefix and suffix per model family; here they come from the template itself: render the
// conversation so far, render it again with one more message whose content is a marker,
// and the text around the marker is that role's prefix and suffix. So a program may append
// text and run gens inside a turn, and the prompt still reads as the template writes it.
//
// Some templates cannot be written turn by turn: adding a turn rewrites the text before it
// (Command R's tool-use templates end every conversation with an instruction turn, Firefunction
// writes the assistant header after the last turn whatever add_generation_prompt says, Mistral
// Nemo shows the system message inside the last user turn). A probe conversation tells them
// apart; for those, each turn opens with the template's render of the whole conversation so far
// (the prompt text is replaced, so text written outside turns cannot be kept; an assistant turn
// opens with the generation prompt where that differs), and a turn whose content the template
// shows only with a later turn (Nemo's system turn) is held until then.
import { ChatTemplate, ChatTemplateError, type ChatMessage } from "../tokenizer/chat-template.js";
import { LangError, type ModelFacts } from "./backend.js";

export type Role = "system" | "user" | "assistant";

export interface RoleText {
  readonly prefix: string;
  readonly suffix: string;
  /**
   * Whole-conversation templates: the prompt up to where the turn's content goes, which
   * replaces the text so far (prefix is then empty).
   */
  readonly text?: string;
  /** The template shows this turn's content only once a later turn is added: no gen can run inside it. */
  readonly hidden?: boolean;
}

const MARKER = "RADIXLMCONTENTMARKER";
const PROBE_TURNS: readonly ChatMessage[] = [
  { role: "system", content: "RADIXLMPROBE1" },
  { role: "user", content: "RADIXLMPROBE2" },
  { role: "assistant", content: "RADIXLMPROBE3" },
  { role: "user", content: "RADIXLMPROBE4" },
  { role: "assistant", content: "RADIXLMPROBE5" },
];
/** The turn a probe puts after a `role` turn, to see whether a held turn shows. */
const NEXT: Record<Role, Role> = { system: "user", user: "assistant", assistant: "user" };

export class RoleRenderer {
  private readonly template: ChatTemplate;
  private trailerText: string | null = null;
  private whole: boolean | null = null;

  /** @param now one clock for every render of a run: templates that write the time (Firefunction) render alike each time. */
  constructor(private readonly facts: ModelFacts, private readonly now = new Date()) {
    if (facts.chatTemplate === null) throw new LangError(facts.chatTemplateMissing ?? "the backend knows no chat template");
    try {
      this.template = new ChatTemplate(facts.chatTemplate, { bosToken: facts.bosToken, eosToken: facts.eosToken });
    } catch (err) {
      throw new LangError(`the model's chat template does not parse: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** Whether this template is written by whole conversations rather than turn by turn (see the top of the file). */
  get wholeConversations(): boolean {
    this.whole ??= this.probeWhole();
    return this.whole;
  }

  /** The text that opens and closes a `role` turn after the turns of `history`. */
  roleText(role: Role, history: readonly ChatMessage[]): RoleText {
    return this.wholeConversations ? this.wholeText(role, history) : this.turnText(role, history);
  }

  private turnText(role: Role, history: readonly ChatMessage[]): RoleText {
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
      throw new LangError(`the chat template does not render a conversation turn by turn (adding a ${role} turn rewrites the text before it); role helpers cannot use it`);
    }
    const prefix = withMarker.slice(before.length, at);
    return { prefix: history.length === 0 ? this.dropBos(prefix) : prefix, suffix: withMarker.slice(at + MARKER.length, end) };
  }

  private wholeText(role: Role, history: readonly ChatMessage[]): RoleText {
    const withMarker = this.render([...history, { role, content: MARKER }], role);
    const at = withMarker.indexOf(MARKER);
    if (at >= 0 && withMarker.indexOf(MARKER, at + 1) < 0) {
      let text = this.dropBos(withMarker.slice(0, at));
      if (role === "assistant") {
        // An answer is generated after the template's generation prompt. Where that is not
        // where a past answer starts (Nemo shows the system message only when a user turn is
        // last, Command R+ its instruction turn only before the answer), it is the one a
        // server would send: a gen here sees what the model is prompted with.
        const prompt = this.safeRender(history, true);
        if (prompt !== null && !text.startsWith(this.dropBos(prompt))) text = this.dropBos(prompt);
      }
      return { prefix: "", text, suffix: withMarker.slice(at + MARKER.length) };
    }
    if (at < 0 && this.showsLater(role, history)) return { prefix: "", suffix: "", hidden: true };
    throw new LangError(`the chat template does not show a ${role} turn's content once, as written; role helpers cannot use it`);
  }

  /** Whether a `role` turn the template does not show yet shows (once) when the next turn comes. */
  private showsLater(role: Role, history: readonly ChatMessage[]): boolean {
    const r = this.safeRender([...history, { role, content: MARKER }, { role: NEXT[role], content: "RADIXLMNEXT" }]);
    return r !== null && r.indexOf(MARKER) >= 0 && r.indexOf(MARKER) === r.lastIndexOf(MARKER);
  }

  /** The tokenizer writes BOS itself; the template's would double it. */
  private dropBos(text: string): string {
    const bos = this.facts.bosToken;
    return this.facts.addsBos && bos && text.startsWith(bos) ? text.slice(bos.length) : text;
  }

  /**
   * Whether turn-by-turn writing fails to give the template's render of a probe conversation
   * (with a system turn, or without one for templates that refuse it). A template that
   * renders neither is taken turn by turn, and its errors come with the turns.
   */
  private probeWhole(): boolean {
    for (const conversation of [PROBE_TURNS, PROBE_TURNS.slice(1)]) {
      const rendered = this.safeRender(conversation);
      if (rendered === null) continue;
      const trailer = this.trailer();
      const expected = this.dropBos(trailer !== "" && rendered.endsWith(trailer) ? rendered.slice(0, rendered.length - trailer.length) : rendered);
      try {
        let text = "";
        conversation.forEach((m, i) => {
          const { prefix, suffix } = this.turnText(m.role as Role, conversation.slice(0, i));
          text += prefix + String(m.content) + suffix;
        });
        return text !== expected;
      } catch {
        return true;
      }
    }
    return false;
  }

  /** The template's render of no messages, when that is only a trailer (it renders no header of its own). */
  private trailer(): string {
    if (this.trailerText === null) {
      this.trailerText = this.safeRender([]) ?? "";
      // A BOS or a default system turn is a header, not a trailer; a template's header is
      // what a first turn starts with.
      const first = this.safeRender([{ role: "user", content: MARKER }]);
      if (first === null || first.startsWith(this.trailerText) || !first.endsWith(this.trailerText)) this.trailerText = "";
    }
    return this.trailerText;
  }

  private safeRender(messages: readonly ChatMessage[], addGenerationPrompt = false): string | null {
    try {
      return this.template.render(messages, { now: this.now, addGenerationPrompt });
    } catch {
      return null;
    }
  }

  private render(messages: readonly ChatMessage[], role: Role): string {
    try {
      return this.template.render(messages, { now: this.now });
    } catch (err) {
      const why = err instanceof ChatTemplateError ? err.message : String(err);
      throw new LangError(`the chat template rejects a ${role} turn here: ${why}`, { cause: err });
    }
  }
}
