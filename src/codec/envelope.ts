// The versioned envelope {"v":1,"value":<tagged>}. The version lets a future format change be
// detected with a clear error instead of silently mis-decoding.
import { Buffer } from "node:buffer";
import { CodecError } from "./codec-error.ts";
import { fromWire, type FromWireOptions } from "./from-wire.ts";
import { toWire, type ToWireOptions } from "./to-wire.ts";

export const CODEC_VERSION = 1;
export const SUPPORTED_VERSIONS: readonly number[] = [1];

export interface Envelope {
  v: number;
  value: unknown;
}

const SUPPORTED_TEXT = `supported codec versions: ${SUPPORTED_VERSIONS.join(", ")}`;

export function encodeEnvelope(value: unknown, options?: ToWireOptions): Envelope {
  return { v: CODEC_VERSION, value: toWire(value, options) };
}

export function decodeEnvelope(envelope: unknown, options?: FromWireOptions): unknown {
  if (typeof envelope !== "object" || envelope === null || Array.isArray(envelope)) {
    throw new CodecError(`not a codec envelope: expected {"v":${CODEC_VERSION},"value":...}; ${SUPPORTED_TEXT}`);
  }
  const env = envelope as Record<string, unknown>;
  if (!Object.prototype.hasOwnProperty.call(env, "v")) {
    throw new CodecError(`codec envelope has no version field "v"; ${SUPPORTED_TEXT}`);
  }
  if (!SUPPORTED_VERSIONS.includes(env.v as number)) {
    throw new CodecError(`unsupported codec version ${JSON.stringify(env.v)}; ${SUPPORTED_TEXT}`);
  }
  if (!Object.prototype.hasOwnProperty.call(env, "value")) {
    throw new CodecError(`codec envelope (version ${String(env.v)}) has no "value" field`);
  }
  return fromWire(env.value, options);
}

export function encode(value: unknown, options?: ToWireOptions): string {
  // Concatenate rather than stringify a wrapper object: one less allocation on the hot path.
  return `{"v":${CODEC_VERSION},"value":${JSON.stringify(toWire(value, options))}}`;
}

export function decode(text: string, options?: FromWireOptions): unknown {
  if (typeof text !== "string") throw new CodecError(`decode expects a string, got ${typeof text}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CodecError(`malformed JSON: ${(err as Error).message}`, { cause: err });
  }
  return decodeEnvelope(parsed, options);
}

/** Size in bytes of encode(value) as UTF-8, e.g. to decide whether a value goes to the store by reference. */
export function encodedSize(value: unknown, options?: ToWireOptions): number {
  return Buffer.byteLength(encode(value, options), "utf8");
}
