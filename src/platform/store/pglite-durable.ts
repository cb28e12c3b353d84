// PGlite as shipped starts Postgres with fsync off (`-F`), and its Node filesystem has no fsync: a
// commit reached the OS's cache, not the disk. A power cut could then lose runs whose trigger had
// been answered, or leave data pages on disk without the WAL records before them — a store that no
// longer opens. The embedded store opens PGlite with fsync on, the WAL flushed by fsync() (the
// wasm build's fdatasync does nothing) and an fsync for its files that reaches the disk.
import fs from "node:fs";
import { PGlite, type PGliteOptions } from "@electric-sql/pglite";
import { NodeFS } from "@electric-sql/pglite/nodefs";

type Mod = { NODEFS: { stream_ops: Record<string, unknown> } };

/**
 * Postgres's own arguments: PGlite's, without `-F` (fsync off), flushing the WAL with fsync(). And
 * 32 MB of shared buffers, not Postgres's 128: the WebAssembly build zeroes them at every start,
 * a third of a CPU-second of each `nbx up` and store restart; an embedded store's working set (the
 * runs in flight and their indexes) fits in far less, and the OS caches the rest of its files.
 */
export const DURABLE_START_PARAMS: readonly string[] = [...PGlite.defaultStartParams.filter((p) => p !== "-F"), "-c", "wal_sync_method=fsync", "-c", "shared_buffers=32MB"];

/** The data folder on the disk through Node, where an fsync by Postgres is an fsync of the file. */
class DurableNodeFS extends NodeFS {
  override async init(pg: PGlite, opts: Parameters<NodeFS["init"]>[1]) {
    const { emscriptenOpts } = await super.init(pg, opts);
    const syncFiles = (mod: Mod) => {
      mod.NODEFS.stream_ops.fsync = (stream: { nfd?: number }) => {
        if (typeof stream.nfd === "number") fs.fsyncSync(stream.nfd);
      };
    };
    return { emscriptenOpts: { ...emscriptenOpts, preRun: [...(emscriptenOpts.preRun ?? []), syncFiles as never] } };
  }
}

/** PGlite on `pgdata` whose commits are on the disk when they return. */
export function openDurablePglite(pgdata: string, options: Omit<PGliteOptions, "fs" | "startParams" | "dataDir"> = {}): PGlite {
  return new PGlite({ ...options, fs: new DurableNodeFS(pgdata), startParams: [...DURABLE_START_PARAMS] });
}
