/** One item's outcome with `settle: true`. */
export type SettledResult<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface FanOutOptions {
  /** Items in flight at once; unbounded when omitted. 0 is rejected (nothing could run). */
  concurrency?: number;
  /** Resolve with `{ ok, value | error }` per item instead of rejecting on the first error. */
  settle?: boolean;
  /** With `settle`: reject (as soon as it becomes impossible) when fewer than this share succeed. */
  minSuccessRatio?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** A failed item of a fan-out that was not settled: names the item index. */
export class MapItemError extends Error {
  override name = "MapItemError";
  constructor(readonly index: number, override readonly cause: unknown) {
    const why = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`map item ${index} failed: ${why}`, { cause });
  }
}

export class MapThresholdError extends Error {
  override name = "MapThresholdError";
  constructor(readonly succeeded: number, readonly failed: number, readonly total: number, readonly minSuccessRatio: number, readonly results: SettledResult<unknown>[]) {
    super(
      `map: only ${succeeded}/${total} items can succeed (${failed} failed), below minSuccessRatio ${minSuccessRatio}; ` +
        `inspect .results for the per-item errors`,
    );
  }
}

function checkOptions(opts: FanOutOptions): void {
  const c = opts.concurrency;
  if (c !== undefined && !(Number.isInteger(c) && c >= 1)) {
    throw new RangeError(`map: concurrency must be a positive integer, got ${c}`);
  }
  const r = opts.minSuccessRatio;
  if (r !== undefined) {
    if (!(r >= 0 && r <= 1)) throw new RangeError(`map: minSuccessRatio must be between 0 and 1, got ${r}`);
    if (!opts.settle) throw new TypeError("map: minSuccessRatio needs settle: true (failed items are returned as { ok: false, error })");
  }
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("map aborted", "AbortError");
}

/** Index of the first of `promises` that rejected with `reason` (it has already settled). */
function rejectedIndex(promises: Promise<unknown>[], reason: unknown): Promise<number> {
  return new Promise((resolve) => {
    let left = promises.length;
    promises.forEach((p, i) =>
      p.then(
        () => --left === 0 && resolve(-1),
        (r) => (r === reason ? resolve(i) : --left === 0 && resolve(-1)),
      ),
    );
  });
}

/**
 * Fast path for the common case (no limit, no settle, no progress, no signal): native
 * Promise.all, with the failing index looked up only when something fails.
 */
function fanOutAll<T>(total: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const promises: Promise<T>[] = new Array(total);
  for (let i = 0; i < total; i++) {
    try {
      promises[i] = task(i);
    } catch (err) {
      promises[i] = Promise.reject(err);
    }
  }
  return Promise.all(promises).catch(async (err) => {
    throw new MapItemError(await rejectedIndex(promises, err), err);
  });
}

/**
 * Run `task(i)` for `i < total`, results in index order, with the semantics every
 * fan-out of nbox shares (local map, starMap, remote map). `all`, when given, runs the common
 * case (every item at once, first failure rejects) in its own cheaper way.
 */
export function fanOut<T>(total: number, task: (index: number) => Promise<T>, opts: FanOutOptions = {}, all?: (total: number) => Promise<T[]>): Promise<any[]> {
  // Bad options reject like any other failure (callers such as starMap are not async functions).
  try {
    checkOptions(opts);
  } catch (err) {
    return Promise.reject(err);
  }
  const { settle = false, minSuccessRatio, onProgress, signal } = opts;
  const concurrency = Math.min(opts.concurrency ?? total, total);
  const results: unknown[] = new Array(total);
  if (signal?.aborted) return Promise.reject(abortError(signal));
  if (total === 0) return Promise.resolve([]);
  if (opts.concurrency === undefined && !settle && !onProgress && !signal) return all ? all(total) : fanOutAll(total, task);
  const maxFailures = minSuccessRatio === undefined ? Infinity : Math.floor(total * (1 - minSuccessRatio) + 1e-9);

  return new Promise((resolve, reject) => {
    let next = 0;
    let done = 0;
    let failed = 0;
    let finished = false;
    const stop = (err: unknown) => {
      if (finished) return;
      finished = true;
      signal?.removeEventListener("abort", onAbort);
      reject(err);
    };
    const onAbort = () => stop(abortError(signal!));
    signal?.addEventListener("abort", onAbort, { once: true });

    const settleItem = (i: number, ok: boolean, value: unknown) => {
      if (finished) return;
      if (ok) results[i] = settle ? { ok: true, value } : value;
      else if (!settle) return stop(new MapItemError(i, value));
      else {
        results[i] = { ok: false, error: value };
        if (++failed > maxFailures) {
          return stop(new MapThresholdError(total - failed, failed, total, minSuccessRatio!, results as SettledResult<unknown>[]));
        }
      }
      done++;
      if (onProgress) {
        // A throwing callback must fail the map, not escape as an unhandled rejection and hang it.
        try {
          onProgress(done, total);
        } catch (err) {
          return stop(err);
        }
      }
      if (done === total) {
        finished = true;
        signal?.removeEventListener("abort", onAbort);
        resolve(results);
      } else launch();
    };
    const launch = () => {
      if (finished || next >= total) return;
      const i = next++;
      let p: Promise<T>;
      try {
        p = task(i);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (v) => settleItem(i, true, v),
        (e) => settleItem(i, false, e),
      );
    };
    for (let k = 0; k < concurrency; k++) launch();
  });
}
