// Long-poll over many runs (remote map's one poll for all its runs in flight). A poll answers with a
// cursor; the next poll of the same caller passes it back with the ids added since, and only the
// runs heard finishing in between (and the added ones) are read, instead of every watched run.
import type { PlatformContext } from "../context.ts";
import type { RunRow } from "../store/schema.ts";
import { STORE_RECHECK_MS } from "./wait.ts";

// Gathering a burst of finishes: 1 ms per this many watched runs, at most BURST_MAX_MS.
const BURST_IDS_PER_MS = 50;
const BURST_MAX_MS = 25;
// Finishes reported through another control plane are never heard here: whatever the cursor,
// every watched run is read again at least this often.
const FULL_READ_EVERY_MS = 1_000;

export interface WaitAnyOptions {
  signal?: AbortSignal;
  /** The caller may see this run (others are treated as unknown: never answered). */
  visible?: (run: RunRow) => boolean;
  /** The cursor of this caller's previous poll. */
  cursor?: string;
  /** Ids watched now that the previous poll did not watch. */
  added?: string[];
}

export interface WaitAnyResult {
  /** Runs among the ids that are terminal (at least one, unless the deadline passed). */
  runs: RunRow[];
  /** Pass back with the next poll. */
  cursor: string;
}

interface Cursor {
  epoch: string;
  /** Feed position up to which every finish of a watched run was answered. */
  position: number;
  /** When every watched run was last read from the store (ms). */
  readAt: number;
}

const formatCursor = (c: Cursor) => `${c.epoch}.${c.position}.${c.readAt}`;

function parseCursor(text: string | undefined): Cursor | null {
  const m = text ? /^([0-9a-f]{1,16})\.(\d{1,15})\.(\d{1,15})$/.exec(text) : null;
  return m ? { epoch: m[1]!, position: Number(m[2]), readAt: Number(m[3]) } : null;
}

/** Those among `ids` that are terminal, as soon as at least one is (or none at the deadline). */
export async function waitForAny(ctx: PlatformContext, ids: string[], ms: number, opts: WaitAnyOptions = {}): Promise<WaitAnyResult> {
  const { signal, visible = () => true } = opts;
  const feed = ctx.events.finishedFeed;
  const deadline = Date.now() + ms;
  const wanted = new Set(ids);
  // Runs heard finishing, with their rows when the finisher sent them.
  let heard = new Map<string, RunRow | undefined>();
  let wake: (() => void) | undefined;
  const onFinished = (id: string, row?: RunRow) => {
    if (!wanted.has(id)) return;
    heard.set(id, row);
    wake?.();
  };
  ctx.events.on("finished", onFinished);
  // Every finish after this position is heard by onFinished.
  let position = feed.position;
  let readAt = Date.now();
  const terminal = async (some: string[]) => (some.length ? (await ctx.store.getRuns(some, { terminalOnly: true })).filter(visible) : []);
  try {
    const prior = parseCursor(opts.cursor);
    const since = prior && prior.epoch === feed.epoch && Date.now() - prior.readAt < FULL_READ_EVERY_MS ? feed.since(prior.position) : null;
    let done: RunRow[];
    if (since && prior) {
      // Runs watched before finished since the cursor only if heard here; added ones may have finished any time.
      readAt = prior.readAt;
      done = await terminal([...new Set([...since.filter((id) => wanted.has(id)), ...(opts.added ?? []).filter((id) => wanted.has(id))])]);
    } else {
      done = await terminal(ids);
    }
    while (done.length === 0 && Date.now() < deadline && !signal?.aborted) {
      const rechecked = await new Promise<boolean>((resolve) => {
        const finish = (timedOut: boolean) => {
          clearTimeout(t);
          signal?.removeEventListener("abort", onAbort);
          wake = undefined;
          resolve(timedOut);
        };
        const onAbort = () => finish(false);
        const t = setTimeout(() => finish(true), Math.max(0, Math.min(deadline - Date.now(), STORE_RECHECK_MS)));
        wake = () => finish(false);
        signal?.addEventListener("abort", onAbort, { once: true });
        if (heard.size > 0 || signal?.aborted) finish(false);
      });
      if (signal?.aborted) break;
      if (heard.size > 0) {
        // Runs of a fan-out finish in bursts: gather more before reading them all at once (longer
        // for more watched runs: a large fan-out wants throughput, one run wants its answer now).
        await new Promise((r) => setTimeout(r, Math.min(BURST_MAX_MS, ids.length / BURST_IDS_PER_MS)));
        const batch = heard;
        heard = new Map();
        position = feed.position;
        done = [...batch.values()].filter((row): row is RunRow => row !== undefined).filter(visible);
        done.push(...(await terminal([...batch].flatMap(([id, row]) => (row ? [] : [id])))));
      } else if (rechecked) {
        // Nothing heard: runs finished through another control plane announce themselves only here.
        position = feed.position;
        readAt = Date.now();
        done = await terminal(ids);
      }
    }
    return { runs: done, cursor: formatCursor({ epoch: feed.epoch, position, readAt }) };
  } finally {
    ctx.events.off("finished", onFinished);
  }
}
