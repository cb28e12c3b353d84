// Long-poll over many runs (remote map's one poll for all its runs in flight). A poll answers with a
// cursor; the next poll of the same caller passes it back with the ids added since. The watch of the
// previous poll kept listening meanwhile (wait-watches.ts), so only the added ids are read from the
// store, not every watched run.
import type { PlatformContext } from "../context.ts";
import type { FinishedRun } from "../store/runs-repo.ts";
import type { Watch } from "../wait-watches.ts";
import { MAX_WAIT_IDS } from "../../contract/routes-runs.ts";
import { NboxError } from "../../errors.ts";
import { hearsEveryFinish, storeRechecks } from "./wait.ts";
import { sleep } from "../../lib/pause.ts";

// Gathering a burst of finishes: 1 ms per this many watched runs, at most BURST_MAX_MS.
const BURST_IDS_PER_MS = 50;
const BURST_MAX_MS = 25;

export interface WaitAnyOptions {
  signal?: AbortSignal;
  /** Who polls (a token id): a cursor resumes only that caller's own watch. */
  owner?: string;
  /** The caller may see this run (others are treated as unknown: never answered). */
  visible?: (run: FinishedRun) => boolean;
  /** The cursor of this caller's previous poll. */
  cursor?: string;
  /** Ids watched now that the previous poll did not watch. */
  added?: string[];
}

export interface WaitAnyResult {
  /** Runs among the ids that are terminal (at least one, unless the deadline passed); those heard finishing have no args. */
  runs: FinishedRun[];
  /** Pass back with the next poll. */
  cursor: string;
  /** The cursor's watch is gone: poll again naming every id. */
  watchLost?: true;
}

interface Cursor {
  /** The watch the poll leaves listening. */
  token: string;
  /** Which of the watch's answers this was. */
  seq: number;
  /** When every watched run was last read from the store (ms). */
  readAt: number;
}

const formatCursor = (c: Cursor) => `${c.token}.${c.seq}.${c.readAt}`;

function parseCursor(text: string | undefined): Cursor | null {
  const m = text ? /^([\w-]{1,24})\.(\d{1,15})\.(\d{1,15})$/.exec(text) : null;
  return m ? { token: m[1]!, seq: Number(m[2]), readAt: Number(m[3]) } : null;
}

/**
 * Those among `ids` that are terminal, as soon as at least one is (or none at the deadline).
 * Without `ids`, the cursor's watch knows them (what it watched, less the runs answered since, plus
 * `added`); when that watch is gone (it lingered too long, or lives on another control plane) the
 * answer says `watchLost` and the caller polls again naming every id.
 */
export async function waitForAny(ctx: PlatformContext, ids: string[] | undefined, ms: number, opts: WaitAnyOptions = {}): Promise<WaitAnyResult> {
  const deadline = Date.now() + ms;
  const prior = parseCursor(opts.cursor);
  const opened = ctx.events.waitWatches.open(opts.owner ?? "", prior?.token, ids, ids ? [] : opts.added);
  if (!opened) return { runs: [], cursor: "", watchLost: true };
  const { watch, resumed } = opened;
  try {
    return await answerFrom(ctx, watch, resumed ? prior : null, !ids, deadline, opts);
  } catch (err) {
    // Never left listening with nobody to take it over.
    ctx.events.waitWatches.discard(watch);
    throw err;
  }
}

/** The poll itself, on its watch (`prior`: the cursor it was resumed from, null for a new watch). */
async function answerFrom(ctx: PlatformContext, watch: Watch, prior: Cursor | null, incremental: boolean, deadline: number, opts: WaitAnyOptions): Promise<WaitAnyResult> {
  const { signal, visible = () => true } = opts;
  if (prior) watch.acknowledge(prior.seq, { dropAnswered: incremental });
  // Counted once the runs the caller received are let go.
  if (watch.wanted.size > MAX_WAIT_IDS) throw new NboxError("BAD_REQUEST", `a poll watches at most ${MAX_WAIT_IDS} runs; this one would watch ${watch.wanted.size}`, "Add more ids once some of the watched runs have finished");
  const ids = [...watch.wanted];
  const terminal = async (some: string[]): Promise<FinishedRun[]> => (some.length ? (await ctx.store.getRuns(some, { terminalOnly: true })).filter(visible) : []);
  // Rows heard with the finish need no read; runs heard without one are read.
  const answer = async (heard: Map<string, FinishedRun | undefined>, more: string[] = []) => {
    const rows = [...heard.values()].filter((row): row is FinishedRun => row !== undefined).filter(visible);
    const unknown = [...heard].flatMap(([id, row]) => (row ? [] : [id]));
    return [...rows, ...(await terminal([...new Set([...unknown, ...more])]))];
  };
  let readAt: number;
  let done: FinishedRun[];
  // Finishes reported through another control plane are never heard here: whatever the cursor,
  // every watched run is read again now and then (see storeRechecks).
  const { recheckMs, fullReadMs } = storeRechecks(ctx);
  if (prior && Date.now() - prior.readAt < fullReadMs) {
    // Everything that finished since the last answer was heard; the added ids were not watched then.
    // On the embedded store an added run not heard finishing (the watch hears it from now on) has not.
    readAt = prior.readAt;
    const added = (opts.added ?? []).filter((id) => watch.wanted.has(id));
    done = await answer(watch.take(), hearsEveryFinish(ctx) ? added.filter((id) => ctx.events.recentFinishes.mayHaveFinished(id)) : added);
  } else {
    readAt = Date.now();
    watch.take();
    done = await terminal(ids);
  }
  // Nothing heard for `recheckMs`: the store is read again (not merely because the deadline came).
  let quietSince = Date.now();
  while (done.length === 0 && Date.now() < deadline && !signal?.aborted) {
    const rechecked = await new Promise<boolean>((resolve) => {
      const finish = (timedOut: boolean) => {
        clearTimeout(t);
        signal?.removeEventListener("abort", onAbort);
        watch.wake = undefined;
        resolve(timedOut);
      };
      const onAbort = () => finish(false);
      const t = setTimeout(() => finish(true), Math.max(0, Math.min(deadline - Date.now(), recheckMs)));
      watch.wake = () => finish(false);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (watch.heard.size > 0 || signal?.aborted) finish(false);
    });
    if (signal?.aborted) break;
    if (watch.heard.size > 0) {
      // Runs of a fan-out finish in bursts: gather more before answering (longer for more watched
      // runs: a large fan-out wants throughput, one run wants its answer now).
      await sleep(Math.min(BURST_MAX_MS, ids.length / BURST_IDS_PER_MS));
      done = await answer(watch.take());
    } else if (rechecked && Date.now() - quietSince >= recheckMs) {
      // Nothing heard: runs finished through another control plane announce themselves only here.
      readAt = quietSince = Date.now();
      done = await terminal(ids);
    }
  }
  const seq = watch.answer(done);
  ctx.events.waitWatches.linger(watch);
  return { runs: done, cursor: formatCursor({ token: watch.token, seq, readAt }) };
}
