// Reads a bundle archive (gzip or plain tar, from a file or bytes) as a stream of inflated chunks, and
// hands out exact byte counts from it. Inflating runs on libuv's thread pool chunk by chunk, so a big
// archive never holds the event loop for long, and nothing is read ahead of what the caller asks for.
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { Readable, pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { UnsafeBundleError } from "./errors.ts";
import { nextTurn } from "../lib/pause.ts";

/** Path of a .tgz / .tar file, or its bytes. */
export type BundleSource = string | Uint8Array;

const CHUNK = 64 * 1024;
const EMPTY = Buffer.alloc(0);
/** Longest stretch of reading work between two turns of the event loop. */
const SLICE_MS = 2;

export class ChunkReader {
  readonly #stream: Readable;
  readonly #it: AsyncIterator<Buffer>;
  #chunk: Buffer = EMPTY;
  #off = 0;
  #sliceStart = performance.now();
  /** Inflated bytes handed out so far. */
  consumed = 0;

  private constructor(stream: Readable) {
    this.#stream = stream;
    this.#it = stream[Symbol.asyncIterator]();
  }

  static async open(source: BundleSource): Promise<ChunkReader> {
    const gzip = await isGzip(source);
    const raw = typeof source === "string" ? createReadStream(source, { highWaterMark: CHUNK }) : Readable.from(slices(source), { objectMode: false });
    if (!gzip) return new ChunkReader(raw);
    const gunzip = createGunzip({ chunkSize: CHUNK });
    pipeline(raw, gunzip, () => {}); // errors surface through the gunzip stream being read
    return new ChunkReader(gunzip);
  }

  /** Exactly `n` bytes, or null when the archive ends before the first of them. */
  async exactly(n: number): Promise<Buffer | null> {
    if (!(await this.#fill())) return null;
    if (this.#chunk.length - this.#off >= n) {
      const out = this.#chunk.subarray(this.#off, this.#off + n);
      this.#off += n;
      this.consumed += n;
      return out;
    }
    const parts: Buffer[] = [];
    await this.pieces(n, (p) => void parts.push(Buffer.from(p)));
    return Buffer.concat(parts);
  }

  /** Exactly `n` bytes; throws if the archive ends first. */
  async required(n: number): Promise<Buffer> {
    const b = n === 0 ? EMPTY : await this.exactly(n);
    if (b === null) throw new UnsafeBundleError(`bundle archive is truncated (${n} bytes missing)`);
    return b;
  }

  /** Passes the next `n` bytes to `fn` piece by piece (as they arrive); throws if the archive ends first. */
  async pieces(n: number, fn: (piece: Buffer) => void | Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!(await this.#fill())) throw new UnsafeBundleError(`bundle archive is truncated (${left} bytes missing)`);
      const take = Math.min(left, this.#chunk.length - this.#off, CHUNK);
      const piece = this.#chunk.subarray(this.#off, this.#off + take);
      this.#off += take;
      this.consumed += take;
      left -= take;
      await fn(piece);
    }
  }

  /** Stops reading (the rest of the archive is never inflated). */
  close(): void {
    this.#stream.destroy();
  }

  async #fill(): Promise<boolean> {
    // Buffered data resolves reads as microtasks, which never let other requests in: yield now and then.
    if (performance.now() - this.#sliceStart > SLICE_MS) {
      await nextTurn();
      this.#sliceStart = performance.now();
    }
    while (this.#off >= this.#chunk.length) {
      let next: IteratorResult<Buffer>;
      try {
        next = await this.#it.next();
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (typeof err.code === "string" && err.code.startsWith("Z_")) throw new UnsafeBundleError(`bundle is not a valid gzip stream: ${err.message}`);
        throw e;
      }
      if (next.done) return false;
      this.#chunk = next.value;
      this.#off = 0;
    }
    return true;
  }
}

function* slices(bytes: Uint8Array): Generator<Buffer> {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < b.length; i += CHUNK) yield b.subarray(i, i + CHUNK);
}

async function isGzip(source: BundleSource): Promise<boolean> {
  let head: Uint8Array;
  if (typeof source === "string") {
    const fh = await open(source, "r");
    try {
      const b = Buffer.alloc(2);
      const { bytesRead } = await fh.read(b, 0, 2, 0);
      head = b.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } else {
    head = source;
  }
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}
