import { randomHex } from "../../trace/ids.ts";

// Ids are `<prefix>_<12 hex ms><6 hex counter><10 hex random>`: they sort by creation time
// (and by creation order within one process), so "newest first" and cursors are `ORDER BY id`.
let lastMs = 0;
let counter = 0;

export const ID_PREFIXES = {
  workspace: "ws",
  token: "tok",
  deployment: "dep",
  version: "ver",
  run: "run",
  schedule: "sch",
  event: "evt",
  worker: "wrk",
} as const;
export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind, now: number = Date.now()): string {
  // Keep ids monotonic in this process even if the clock steps back.
  const ms = Math.max(now, lastMs);
  if (ms !== lastMs) {
    lastMs = ms;
    counter = 0;
  }
  counter = (counter + 1) % 0x1000000;
  const time = ms.toString(16).padStart(12, "0");
  const seq = counter.toString(16).padStart(6, "0");
  return `${ID_PREFIXES[kind]}_${time}${seq}${randomHex(5)}`;
}

/** When an id was made (epoch ms, from its time part); NaN for a string that is not such an id. */
export function idTime(id: string): number {
  const m = /^[a-z]+_([0-9a-f]{12})/.exec(id);
  return m ? parseInt(m[1]!, 16) : NaN;
}

/** 16-byte W3C trace id, for runs triggered without a parent trace. */
export { newTraceId } from "../../trace/ids.ts";
