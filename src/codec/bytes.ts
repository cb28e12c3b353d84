// Binary travels as base64; Buffer and Uint8Array keep distinct tags so each decodes as what it was.
import { Buffer } from "node:buffer";

export function bytesToBase64(bytes: Uint8Array): string {
  // View (not copy) the exact window of the underlying memory; a Uint8Array may be a slice of a larger buffer.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export function base64ToBuffer(text: string): Buffer {
  return Buffer.from(text, "base64");
}

export function base64ToUint8Array(text: string): Uint8Array {
  // Copy out of the Buffer: small Buffers share a pooled ArrayBuffer we must not expose via `.buffer`.
  return new Uint8Array(Buffer.from(text, "base64"));
}
