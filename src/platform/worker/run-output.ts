import type { Span } from "../../trace/span.ts";
import type { PlatformContext } from "../context.ts";
import type { LogLineInput } from "../store/logs-repo.ts";

// Lines are written in batches: a chatty run must not cost one INSERT per line.
const FLUSH_MS = 100;

/** Buffers one run's log lines and spans and writes them to the store in order. */
export class RunOutput {
  private lines: LogLineInput[] = [];
  private spans: Span[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: PlatformContext,
    private readonly runId: string,
  ) {}

  log(stream: "stdout" | "stderr" | "system", line: string): void {
    this.lines.push({ stream, line, ts: Date.now() });
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  system(line: string): void {
    this.log("system", line);
  }

  span(span: Span): void {
    this.spans.push(span);
    this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Write what is buffered (chained, so batches land in order). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const lines = this.lines.splice(0);
    const spans = this.spans.splice(0);
    if (lines.length === 0 && spans.length === 0) return this.writing;
    this.writing = this.writing.then(async () => {
      try {
        if (lines.length) {
          await this.ctx.store.appendLogs(this.runId, lines);
          this.ctx.events.emit("logs", this.runId);
        }
        if (spans.length) {
          await this.ctx.store.insertSpans(spans.map((s) => ({ ...s, error: s.error ?? null, runId: this.runId })));
        }
      } catch (err) {
        console.error(`[nbox] could not store output of run ${this.runId}:`, err);
      }
    });
    return this.writing;
  }

  close(): Promise<void> {
    return this.flush();
  }
}
