// A response's output items built from a choice's OutputEvents (chat-request.ts), with the
// stream events that build them in OpenAI's order: an item is added, its content part added,
// deltas, then the text done, the part done and the item done, before the next item opens.
// A response sent whole is built by the same code from one push, so it always equals the
// streamed one.
import type { OutputEvent } from "./chat-request.js";
import { newId } from "./generation.js";

/** One stream event, before its sequence number. */
export type StreamEvent = Record<string, unknown> & { readonly type: string };

export type ItemStatus = "completed" | "incomplete";

type Open =
  | { readonly kind: "reasoning"; readonly id: string; text: string; space: string }
  | { readonly kind: "message"; readonly id: string; text: string }
  | { readonly kind: "call"; readonly id: string; readonly callId: string; readonly name: string; args: string };

export class OutputBuilder {
  /** The finished items, in output order. */
  readonly items: Record<string, unknown>[] = [];
  private open: Open | null = null;
  /** All the thinking's text, for the usage's reasoning tokens. */
  reasoningText = "";

  constructor(private readonly emit: (event: StreamEvent) => void) {}

  push(events: readonly OutputEvent[]): void {
    for (const e of events) {
      if (e.type === "reasoning") this.reasoning(e.text);
      else if (e.type === "content") this.content(e.text);
      else if (e.type === "call") this.call(e.name);
      else if (this.open?.kind === "call") {
        this.open.args += e.text;
        this.emit({ type: "response.function_call_arguments.delta", item_id: this.open.id, output_index: this.items.length, delta: e.text });
      }
    }
  }

  /** Closes the last item; an output with no item gets an empty message, as a text answer always has one. */
  finish(status: ItemStatus): void {
    if (!this.open && this.items.length === 0) this.openMessage();
    this.close(status);
  }

  private reasoning(text: string): void {
    let o = this.open;
    if (o?.kind !== "reasoning") {
      // The blank line after <think> is not part of the thinking.
      text = text.trimStart();
      if (!text) return;
      this.close("completed");
      o = this.open = { kind: "reasoning", id: newId("rs_"), text: "", space: "" };
      this.emit(this.itemEvent("added", { id: o.id, type: "reasoning", summary: [], content: [], status: "in_progress" }));
      this.emit({ type: "response.content_part.added", ...this.at(o), part: { type: "reasoning_text", text: "" } });
    }
    // Trailing blanks wait for more thinking: those before </think> are not part of it either.
    const all = o.space + text;
    const trimmed = all.trimEnd();
    o.space = all.slice(trimmed.length);
    if (!trimmed) return;
    o.text += trimmed;
    this.reasoningText += trimmed;
    this.emit({ type: "response.reasoning_text.delta", ...this.at(o), delta: trimmed });
  }

  private content(text: string): void {
    if (!text) return;
    if (this.open?.kind !== "message") this.openMessage();
    const o = this.open as Open & { kind: "message" };
    o.text += text;
    this.emit({ type: "response.output_text.delta", ...this.at(o), delta: text, logprobs: [] });
  }

  private openMessage(): void {
    this.close("completed");
    const o: Open = (this.open = { kind: "message", id: newId("msg_"), text: "" });
    this.emit(this.itemEvent("added", { id: o.id, type: "message", role: "assistant", status: "in_progress", content: [] }));
    this.emit({ type: "response.content_part.added", ...this.at(o), part: outputText("") });
  }

  private call(name: string): void {
    this.close("completed");
    const o: Open = (this.open = { kind: "call", id: newId("fc_"), callId: newId("call_"), name, args: "" });
    this.emit(this.itemEvent("added", callItem(o, "in_progress")));
  }

  private close(status: ItemStatus): void {
    const o = this.open;
    if (!o) return;
    let item: Record<string, unknown>;
    if (o.kind === "reasoning") {
      const part = { type: "reasoning_text", text: o.text };
      this.emit({ type: "response.reasoning_text.done", ...this.at(o), text: o.text });
      this.emit({ type: "response.content_part.done", ...this.at(o), part });
      item = { id: o.id, type: "reasoning", summary: [], content: [part], encrypted_content: null, status };
    } else if (o.kind === "message") {
      this.emit({ type: "response.output_text.done", ...this.at(o), text: o.text, logprobs: [] });
      this.emit({ type: "response.content_part.done", ...this.at(o), part: outputText(o.text) });
      item = { id: o.id, type: "message", role: "assistant", status, content: [outputText(o.text)] };
    } else {
      this.emit({ type: "response.function_call_arguments.done", item_id: o.id, output_index: this.items.length, name: o.name, arguments: o.args });
      item = callItem(o, status);
    }
    this.emit(this.itemEvent("done", item));
    this.items.push(item);
    this.open = null;
  }

  private itemEvent(what: "added" | "done", item: Record<string, unknown>): StreamEvent {
    return { type: `response.output_item.${what}`, output_index: this.items.length, item };
  }

  private at(o: Open): { item_id: string; output_index: number; content_index: number } {
    return { item_id: o.id, output_index: this.items.length, content_index: 0 };
  }
}

function outputText(text: string): Record<string, unknown> {
  return { type: "output_text", text, annotations: [], logprobs: [] };
}

function callItem(o: Open & { kind: "call" }, status: string): Record<string, unknown> {
  return { id: o.id, type: "function_call", status, call_id: o.callId, name: o.name, arguments: o.args };
}
