// JSON Schemas of a deployed operator's callable surface, derived from its TypeScript source at
// deploy time and recorded in the manifest's signature. They describe the plain JSON a
// non-TypeScript caller sends and receives (see codec/to-plain.ts); `x-nbox-type` marks values
// that are richer in JavaScript (Date, bigint, bytes, Map, Set) so a serving can rebuild them.

/** A JSON Schema (2020-12) object. */
export type JsonSchema = { [key: string]: unknown };

/** Rich JavaScript types a plain JSON value stands for. */
export const NBOX_TYPES = ["Date", "bigint", "bytes", "Buffer", "Map", "Set", "Error"] as const;
export type NboxType = (typeof NBOX_TYPES)[number];

/** Keyword naming the rich type of a value (see NBOX_TYPES). */
export const NBOX_TYPE_KEY = "x-nbox-type";
/** Keyword saying why a type is published as `{}` (any value): a function, a type parameter, … */
export const UNREPRESENTABLE_KEY = "x-nbox-unrepresentable";

export interface FnSchemas {
  /** One schema per declared parameter (a rest parameter's is its item schema, in `rest`). */
  params: JsonSchema[];
  /** Parameters that accept undefined though a caller must pass them (`x: T | undefined`). */
  maybeAbsent?: boolean[];
  rest?: JsonSchema;
  /** The awaited result; absent when the function returns nothing (void/undefined). */
  returns?: JsonSchema;
  /** The result may be undefined (sent as an absent `value`). */
  returnsOptional?: true;
  /** Item type of a generator method (called whole it answers an array of them). */
  yields?: JsonSchema;
}

export interface SchemaSet {
  /** Named types, referenced as `{ "$ref": "#/$defs/<name>" }`. */
  defs: Record<string, JsonSchema>;
  methods: Record<string, FnSchemas>;
  forward?: FnSchemas;
  /** Declared public data fields (GET/PUT /attr/<name>). */
  fields: Record<string, JsonSchema>;
  /** Why some or all schemas could not be derived. */
  notes?: string[];
}

/** The signature a manifest records, with what a serving reads from it. */
export interface RecordedSignature {
  methods?: Record<string, { params: { name: string; optional: boolean; rest: boolean }[]; minArgs?: number; maxArgs: number | null; kind?: string }>;
  forward?: { params: { name: string; optional: boolean; rest: boolean }[]; minArgs?: number; maxArgs: number | null } | null;
  schemas?: SchemaSet;
}
