// Real-world JSON schemas for the structured-output tests. Strings are bounded (maxLength,
// enum, pattern or format) so that a random-weight model, which rarely picks a closing
// quote, still finishes; the grammar forces closure of everything else.
export const SCHEMAS: Record<string, Record<string, unknown>> = {
  person: {
    type: "object",
    properties: {
      name: { type: "string", minLength: 1, maxLength: 12 },
      age: { type: "integer", minimum: 0, maximum: 120 },
      // (format "email" is left out: xgrammar ignores maxLength beside a format, and a random
      // model rarely ends an unbounded local part)
      email: { type: "string", pattern: "^[a-z]{1,8}@[a-z]{1,8}\\.(com|org)$" },
      nickname: { type: "string", maxLength: 6 },
    },
    required: ["name", "age"],
    additionalProperties: false,
  },
  order: {
    type: "object",
    properties: {
      id: { type: "string", pattern: "^ORD-[0-9]{4}$" },
      status: { enum: ["pending", "shipped", "delivered", "cancelled"] },
      items: {
        type: "array",
        minItems: 1,
        maxItems: 3,
        items: {
          type: "object",
          properties: {
            sku: { type: "string", pattern: "^[A-Z]{3}[0-9]{2}$" },
            quantity: { type: "integer", minimum: 1, maximum: 99 },
            price: { type: "number", minimum: 0, maximum: 1000 },
          },
          required: ["sku", "quantity", "price"],
          additionalProperties: false,
        },
      },
      express: { type: "boolean" },
    },
    required: ["id", "status", "items"],
    additionalProperties: false,
  },
  event: {
    type: "object",
    properties: {
      title: { type: "string", maxLength: 10 },
      date: { type: "string", format: "date" },
      uuid: { type: "string", format: "uuid" },
      temperature: { type: "number", minimum: -40.5, maximum: 60 },
      tags: { type: "array", items: { enum: ["a", "b", "c"] }, maxItems: 4 },
    },
    required: ["title", "date", "uuid", "temperature"],
    additionalProperties: false,
  },
  refs: {
    $defs: {
      point: {
        type: "object",
        properties: { x: { type: "integer", minimum: -50, maximum: 50 }, y: { type: "integer", minimum: -50, maximum: 50 } },
        required: ["x", "y"],
        additionalProperties: false,
      },
    },
    type: "object",
    properties: {
      start: { $ref: "#/$defs/point" },
      end: { $ref: "#/$defs/point" },
      waypoints: { type: "array", items: { $ref: "#/$defs/point" }, minItems: 0, maxItems: 2 },
    },
    required: ["start", "end"],
    additionalProperties: false,
  },
  union: {
    type: "object",
    properties: {
      shape: {
        anyOf: [
          { type: "object", properties: { kind: { const: "circle" }, r: { type: "integer", minimum: 1, maximum: 9 } }, required: ["kind", "r"], additionalProperties: false },
          { type: "object", properties: { kind: { const: "rect" }, w: { type: "integer", minimum: 1, maximum: 9 }, h: { type: "integer", minimum: 1, maximum: 9 } }, required: ["kind", "w", "h"], additionalProperties: false },
        ],
      },
      label: { anyOf: [{ type: "string", maxLength: 5 }, { type: "null" }] },
    },
    required: ["shape", "label"],
    additionalProperties: false,
  },
};
