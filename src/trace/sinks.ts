import { appendFileSync } from "node:fs";
import type { Span } from "./span.ts";

export interface SpanSink {
  push(span: Span): void;
}

/** Bounded ring of the most recent spans: tracing must never grow memory without bound. */
export class MemorySink implements SpanSink {
  private readonly ring: (Span | undefined)[];
  private next = 0;
  private count = 0;
  constructor(readonly capacity = 1_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`MemorySink: capacity must be a positive integer, got ${capacity}`);
    this.ring = new Array(capacity);
  }
  push(span: Span): void {
    this.ring[this.next] = span;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }
  /** Oldest first. */
  spans(): Span[] {
    const out: Span[] = [];
    const first = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) out.push(this.ring[(first + i) % this.capacity]!);
    return out;
  }
  clear(): void {
    this.ring.fill(undefined);
    this.next = 0;
    this.count = 0;
  }
}

/** One JSON object per line (NBOX_TRACE_FILE). Sync append keeps ordering across crashes. */
export class JsonlSink implements SpanSink {
  constructor(readonly file: string) {}
  push(span: Span): void {
    appendFileSync(this.file, JSON.stringify(span) + "\n");
  }
}
