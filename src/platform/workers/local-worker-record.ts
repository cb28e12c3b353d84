// A control plane's local worker dies with it. While it runs, the id of its worker token is kept in
// the data folder, so the next start after a crash (kill -9, power loss) knows which worker was its
// own: it takes back at once what that worker held and revokes its token — also on Postgres, where
// other control planes share the store and no lease of theirs may be cut short. A clean stop removes
// the record.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { processAlive } from "../../lib/process-alive.ts";
import { writeFileAtomic } from "../../lib/write-file-atomic.ts";

const RECORD_FILE = "local-worker.json";

export interface LocalWorkerRecord {
  /** The worker token minted for that start's local worker. */
  tokenId: string;
  /** The control plane that started it. */
  pid: number;
}

/** Note the local worker of this start (before it can take any run). */
export function recordLocalWorker(dataDir: string, tokenId: string): void {
  writeFileAtomic(join(dataDir, RECORD_FILE), JSON.stringify({ tokenId, pid: process.pid } satisfies LocalWorkerRecord) + "\n", { mode: 0o600 });
}

/**
 * The local worker of an earlier start that did not stop cleanly, if any. A record of a control plane
 * still running (two started on one data folder with a shared store) is not one: its worker is alive.
 */
export function earlierLocalWorker(dataDir: string): LocalWorkerRecord | undefined {
  let rec: Partial<LocalWorkerRecord>;
  try {
    rec = JSON.parse(readFileSync(join(dataDir, RECORD_FILE), "utf8"));
  } catch {
    // None (a clean stop, a first start) or unreadable: what it held comes back when its lease lapses.
    return undefined;
  }
  if (typeof rec?.tokenId !== "string" || typeof rec.pid !== "number") return undefined;
  if (rec.pid !== process.pid && processAlive(rec.pid)) return undefined;
  return { tokenId: rec.tokenId, pid: rec.pid };
}

/** The local worker stopped cleanly (it handed its runs back). */
export function forgetLocalWorker(dataDir: string): void {
  rmSync(join(dataDir, RECORD_FILE), { force: true });
}
