import { randomFillSync } from "node:crypto";

// Span ids are on the hot path of every call: refill a random pool in bulk instead of
// asking the CSPRNG for 8 bytes per span.
const POOL_BYTES = 8192;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

function randomHex(bytes: number): string {
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString("hex", offset, offset + bytes);
  offset += bytes;
  return hex;
}

/** 16-byte W3C trace id (32 hex chars). */
export const newTraceId = (): string => randomHex(16);
/** 8-byte W3C span id (16 hex chars). */
export const newSpanId = (): string => randomHex(8);
