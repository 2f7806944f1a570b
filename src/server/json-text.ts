// The one way a body's text becomes a value, on the event loop or on the JSON thread.

/** The value of a JSON text, undefined when it is only whitespace; `__proto__` keys are dropped (prototype poisoning through later merges). */
export function parseJsonText(text: string): unknown {
  if (/^[ \t\r\n]*$/.test(text)) return undefined;
  return text.includes("__proto__") ? JSON.parse(text, (k, v: unknown) => (k === "__proto__" ? undefined : v)) : JSON.parse(text);
}
