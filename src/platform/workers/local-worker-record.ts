// A control plane's local worker dies with it. While it runs, the id of its worker token is kept in
// the data folder, so the next start after a crash (kill -9, power loss) knows which worker was its
// own: it takes back at once what that worker held and revokes its token — also on Postgres, where
// other control planes share the store and no lease of theirs may be cut short. A clean stop removes
// the record.
import { readFileSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { processAlive } from "../../lib/process-alive.ts";
import { writeFileAtomic } from "../../lib/write-file-atomic.ts";

const RECORD_FILE = "local-worker.json";

export interface LocalWorkerRecord {
  /** The worker token minted for that start's local worker. */
  tokenId: string;
  /** The control plane that started it: its pid on this host during this boot. */
  pid: number;
  host: string;
  boot: string | null;
}

/** This boot of the machine (Linux); a record of an earlier boot is of a control plane that is gone. */
function bootId(): string | null {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || null;
  } catch {
    return null;
  }
}

/** Note the local worker of this start (before it can take any run). */
export function recordLocalWorker(dataDir: string, tokenId: string): void {
  const rec: LocalWorkerRecord = { tokenId, pid: process.pid, host: hostname(), boot: bootId() };
  writeFileAtomic(join(dataDir, RECORD_FILE), JSON.stringify(rec) + "\n", { mode: 0o600 });
}

function readRecord(dataDir: string): LocalWorkerRecord | undefined {
  let rec: Partial<LocalWorkerRecord> | null;
  try {
    rec = JSON.parse(readFileSync(join(dataDir, RECORD_FILE), "utf8"));
  } catch {
    return undefined;
  }
  if (typeof rec?.tokenId !== "string" || typeof rec.pid !== "number" || typeof rec.host !== "string") return undefined;
  return { tokenId: rec.tokenId, pid: rec.pid, host: rec.host, boot: typeof rec.boot === "string" ? rec.boot : null };
}

/**
 * The local worker of an earlier start that did not stop cleanly, if any: only when this host wrote
 * the record and its writer is surely gone (the machine rebooted since, or no process has its pid).
 * A record from another host (a data folder on a shared volume) or of a control plane still running
 * is not one: what its worker holds comes back when its lease lapses, if it ever must.
 */
export function earlierLocalWorker(dataDir: string): LocalWorkerRecord | undefined {
  // None (a clean stop, a first start), torn or unreadable: nothing is taken back early.
  const rec = readRecord(dataDir);
  if (!rec || rec.host !== hostname()) return undefined;
  const boot = bootId();
  const sameBoot = rec.boot === null || boot === null || rec.boot === boot;
  if (sameBoot && rec.pid !== process.pid && processAlive(rec.pid)) return undefined;
  return rec;
}

/** The local worker of this start stopped cleanly (it handed its runs back): its record goes, not another's. */
export function forgetLocalWorker(dataDir: string, tokenId: string): void {
  if (readRecord(dataDir)?.tokenId === tokenId) rmSync(join(dataDir, RECORD_FILE), { force: true });
}
