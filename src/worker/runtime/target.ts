// The loaded target inside the child runtime and every operation the parent can ask of it: a job
// call, forward, a method, an attribute read or write, a generator stream step. Names coming from
// outside are checked here against the one allow-list (`reachable`), whatever the parent checked.
// Operations on a served instance take their turn in its FIFO here, next to the instance, so the
// parent can send calls as they come without an IPC round trip between one call and the next.
import { fromWire } from "../../codec/index.ts";
import { callAsJob } from "../../operator/job-call.ts";
import { getTracer } from "../../trace/tracer.ts";
import type { ActiveSpan } from "../../trace/span.ts";
import { parseTraceParent } from "../../trace/traceparent.ts";
import type { CallOp, ValueEncoding } from "./protocol.ts";
import { CallQueue } from "./call-queue.ts";
import { fieldsOf, isWritableField, reachable, readField, type MethodInfo, type Surface } from "./surface.ts";
import { Refusal, encodeValue } from "./values.ts";

type Iter = Iterator<unknown> | AsyncIterator<unknown>;

interface OpenStream {
  name: string;
  span: ActiveSpan;
  it: Iter;
}

const tracer = getTracer();

export interface TargetOptions {
  /** Serving mode only: methods, fields and forward of the live instance. */
  surface?: Surface;
  /** Serving name for messages and span attributes. */
  name: string;
  /** Calls at once on the instance (0 = no limit). */
  concurrency?: number;
  /** Per-call limit in ms (0 = none). */
  timeoutMs?: number;
}

export class LoadedTarget {
  readonly surface: Surface | undefined;
  /** Calls on the instance run in arrival order, `concurrency` at a time, each within the timeout. */
  readonly queue: CallQueue;
  private readonly name: string;
  private readonly timeoutMs: number;
  private readonly streams = new Map<number, OpenStream>();
  private readonly attributes: Record<string, unknown>;

  constructor(
    /** What `materialize` built. */
    readonly value: unknown,
    o: TargetOptions,
  ) {
    this.surface = o.surface;
    this.name = o.name;
    this.queue = new CallQueue(o.concurrency ?? 0);
    this.timeoutMs = o.timeoutMs ?? 0;
    this.attributes = { serving: o.name };
  }

  /** Run one operation; resolves with the (encoded) answer, rejects with what was thrown, a Refusal or a CallTimeoutError. */
  async run(op: CallOp, traceparent: string | undefined, encoding: ValueEncoding | undefined): Promise<unknown> {
    switch (op.kind) {
      case "job":
        return encodeValue(await this.job(op.args.map((a) => fromWire(a)), op.method), "tagged");
      case "calls":
        throw new Refusal("NOT_FOUND", "batched calls are run by a job process, one by one");
      case "ping":
        return { queued: this.queue.pending };
      case "fields":
        return fieldsOf(this.served());
      case "writable":
        return isWritableField(this.served(), op.name);
      case "forward": {
        const fwd = this.served().forward;
        if (!fwd) throw new Refusal("NOT_FOUND", `${this.name} has no forward(); call its methods at /call/<method>`);
        const args = op.args.map((a) => fromWire(a));
        return encodeValue(await this.queued("forward()", () => this.traced("forward", traceparent, async () => settle(await fwd.call(args), fwd.info.kind))), encoding);
      }
      case "method": {
        const { info, fn } = this.method(op.name);
        const args = op.args.map((a) => fromWire(a));
        const host = this.served().host;
        return encodeValue(await this.queued(`${op.name}()`, () => this.traced(op.name, traceparent, async () => settle(await fn.apply(host, args), info.kind))), encoding);
      }
      case "get": {
        // Read on the live instance, in turn with calls: getters and Proxy traps are user code.
        const s = this.served();
        const read = await this.queued(`read ${op.name}`, () => readField(s, op.name));
        if (!read.ok) throw new Refusal("NOT_FOUND", `${this.name} ${read.why} "${op.name}"`);
        return encodeValue(read.value, encoding);
      }
      case "set": {
        const s = this.served();
        if (!isWritableField(s, op.name)) throw new Refusal("NOT_FOUND", `${this.name} has no writable public field "${op.name}"`);
        const value = fromWire(op.value);
        await this.queued(`set ${op.name}`, () => void (s.host[op.name] = value));
        return encodeValue(undefined, encoding);
      }
      case "stream-start":
        return this.streamStart(op.stream, op.name, op.args.map((a) => fromWire(a)), traceparent);
      case "stream-next":
        return this.streamNext(op.stream, encoding);
      case "stream-return":
        return this.streamReturn(op.stream);
    }
  }

  /** A job run: the target itself, or one of its public methods. */
  private job(args: unknown[], method: string | undefined): unknown {
    if (method === undefined) return callAsJob(this.value, args);
    if (!reachable(method)) throw new Refusal("NOT_FOUND", `method "${method}" cannot be called remotely`, "TypeError");
    const fn = (this.value as Record<string, unknown> | null)?.[method];
    if (typeof fn !== "function") throw new Refusal("NOT_FOUND", `the loaded target has no method "${method}"`, "TypeError");
    return (fn as (...a: unknown[]) => unknown).apply(this.value, args);
  }

  private served(): Surface {
    if (!this.surface) throw new Refusal("NOT_FOUND", "this runtime was loaded for jobs: it serves no instance");
    return this.surface;
  }

  private method(name: string): { info: MethodInfo; fn: Function } {
    const s = this.served();
    const info = reachable(name) ? s.methods[name] : undefined;
    const fn = info ? s.host[name] : undefined;
    if (!info || typeof fn !== "function") throw new Refusal("NOT_FOUND", `${this.name} has no method "${name}"`);
    return { info, fn };
  }

  private queued<T>(label: string, fn: () => T | Promise<T>): Promise<T> {
    return this.queue.run(fn, { timeoutMs: this.timeoutMs, label });
  }

  /** `fn` inside a span named after the method, parented to the caller's traceparent. */
  private traced<T>(label: string, traceparent: string | undefined, fn: () => Promise<T>): Promise<T> {
    return tracer.withSpan(label, fn, { parent: parseTraceParent(traceparent) ?? null, attributes: { ...this.attributes } });
  }

  private async streamStart(id: number, name: string, args: unknown[], traceparent: string | undefined): Promise<null> {
    // One span for the whole stream: every step runs inside it, it ends when the stream does.
    const span = tracer.startSpan(name, name, { parent: parseTraceParent(traceparent) ?? null, attributes: { ...this.attributes, stream: true } });
    let it: Iter;
    try {
      const { fn } = this.method(name);
      const host = this.served().host;
      const made = await this.queued(`${name}()`, () => tracer.runInFrame({ span, path: "" }, () => fn.apply(host, args)));
      const asyncIt = (made as AsyncIterable<unknown> | null)?.[Symbol.asyncIterator];
      const syncIt = (made as Iterable<unknown> | null)?.[Symbol.iterator];
      if (typeof asyncIt === "function") it = asyncIt.call(made);
      else if (typeof syncIt === "function" && typeof made !== "string") it = syncIt.call(made);
      else throw new Refusal("BAD_REQUEST", `${name}() is not a generator method; call it at /call/${name}`);
    } catch (err) {
      tracer.endSpan(span, err);
      throw err;
    }
    this.streams.set(id, { name, span, it });
    return null;
  }

  private async streamNext(id: number, encoding: ValueEncoding | undefined): Promise<{ done: true } | { done: false; value: unknown }> {
    const s = this.streams.get(id);
    if (!s) throw new Refusal("NOT_FOUND", `stream ${id} is not open`);
    try {
      const r = await this.queued(`${s.name}() step`, () => tracer.runInFrame({ span: s.span, path: "" }, () => s.it.next()));
      if (r.done) {
        this.end(id);
        return { done: true };
      }
      return { done: false, value: encodeValue(r.value, encoding) };
    } catch (err) {
      // A failed or late step ends the stream; its generator is stopped when it can be.
      this.end(id, err);
      void Promise.resolve()
        .then(() => s.it.return?.())
        .catch(() => {});
      throw err;
    }
  }

  private async streamReturn(id: number): Promise<null> {
    const s = this.streams.get(id);
    if (!s) return null; // finished already
    this.end(id);
    try {
      await this.queued(`${s.name}() return`, () => tracer.runInFrame({ span: s.span, path: "" }, () => s.it.return?.()));
    } catch {
      // Cancellation is best effort: a generator stuck in a step cannot be returned.
    }
    return null;
  }

  /** End a stream's span (once) and forget it. */
  private end(id: number, err?: unknown): void {
    const s = this.streams.get(id);
    if (!s) return;
    this.streams.delete(id);
    tracer.endSpan(s.span, err);
  }
}

/** Generators called without streaming: collect every item (like awaiting a stream client-side). */
async function settle(value: unknown, kind: MethodInfo["kind"]): Promise<unknown> {
  if (kind !== "generator" && kind !== "asyncGenerator") return value;
  const out: unknown[] = [];
  for await (const x of value as AsyncIterable<unknown>) out.push(x);
  return out;
}
