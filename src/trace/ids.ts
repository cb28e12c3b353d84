import { randomFillSync } from "node:crypto";

// Span, trace and record ids are on the hot path of every call and run: refill a random pool in bulk and hex-encode it
// once, so an id is a cheap substring instead of a CSPRNG call plus an encoding per span.
const POOL_BYTES = 16384;
const pool = Buffer.alloc(POOL_BYTES);
let hex = "";
let offset = POOL_BYTES;

/** `bytes` random bytes as hex, from the pool. */
export function randomHex(bytes: number): string {
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    hex = pool.toString("hex");
    offset = 0;
  }
  const id = hex.slice(offset * 2, (offset + bytes) * 2);
  offset += bytes;
  return id;
}

/** 16-byte W3C trace id (32 hex chars). */
export const newTraceId = (): string => randomHex(16);
/** 8-byte W3C span id (16 hex chars). */
export const newSpanId = (): string => randomHex(8);
