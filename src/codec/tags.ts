// The wire format is plain JSON; values JSON cannot express become objects carrying TAG_KEY.
// Any user object that happens to own TAG_KEY is itself wrapped in an "obj" tag, so user data can
// never be mistaken for a tag.
export const TAG_KEY = "$nbx";

export const Tag = {
  undefined: "undef",
  number: "num", // NaN, Infinity, -Infinity, -0 (v is the name as a string)
  bigint: "bigint",
  date: "date", // v: ISO string, or null for an invalid date
  map: "map", // v: [[key, value], ...]
  set: "set", // v: [item, ...]
  uint8array: "u8", // v: base64
  buffer: "buf", // v: base64
  error: "error", // v: { name, message, stack?, cause?, errors?, props? }
  object: "obj", // escaped plain object whose own keys include TAG_KEY; v: its fields, keys literal
} as const;

export type TagName = (typeof Tag)[keyof typeof Tag];

export const KNOWN_TAGS: readonly string[] = Object.values(Tag);

/** Wire form of an error; `props` holds own enumerable fields such as `code`. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  cause?: unknown;
  errors?: unknown;
  props?: unknown;
}
