// Reading an operator's types means loading the TypeScript compiler and building a program: seconds
// of CPU on every deploy, for sources that mostly did not change since the last one. A reading is
// kept on disk with what it depended on — the content of every file the program read (except the
// compiler's own library, fixed by its version), the listing of every project folder those files
// sit in (a new file can change what an import resolves to) and the tsconfig files — and reused
// only while all of that is unchanged. Paths are kept relative to the operator's folder, so a copy
// of a project elsewhere reuses it too.
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { writeFileAtomic } from "../lib/write-file-atomic.ts";
import type { DeriveInput, DerivedTypes } from "./from-ts.ts";

// Bump when the entry's shape changes.
const FORMAT = 1;
// Entries kept; the least recently used beyond this are removed when one is written.
const MAX_ENTRIES = 500;

/** What a reading depended on, as the compiler saw it. */
export interface ReadingInputs {
  /** Every file the program read, with its text (the compiler's default library left out). */
  files: Array<{ path: string; text: string }>;
  /** tsconfig files read (the one found from the operator's folder first), or none. */
  configs: string[];
}

interface Entry {
  format: number;
  /** [path relative to the operator's folder, sha256 of its content]. */
  files: Array<[string, string]>;
  /** [project folder, sha256 of its sorted listing]. */
  dirs: Array<[string, string]>;
  /** The tsconfig.json the walk up from the operator's folder finds (relative), or null. */
  config: string | null;
  result: DerivedTypes;
}

export class DeriveCache {
  constructor(
    private readonly dir: string,
    /** What else the reading depends on: the compiler's and this code's identity. */
    private readonly salt: string,
    private readonly maxEntries = MAX_ENTRIES,
  ) {}

  /** The kept reading for `input`, if nothing it depended on changed. Never throws. */
  read(input: DeriveInput): DerivedTypes | undefined {
    try {
      const path = this.entryPath(input);
      const entry = JSON.parse(readFileSync(path, "utf8")) as Entry;
      if (entry.format !== FORMAT || !this.stillHolds(input, entry)) return undefined;
      const now = new Date();
      utimesSync(path, now, now); // recently used: kept by the pruning
      return entry.result;
    } catch {
      return undefined;
    }
  }

  /** Keep a reading. Failing to (read-only or full disk, a file gone meanwhile) only costs the next deploy time. */
  write(input: DeriveInput, inputs: ReadingInputs, result: DerivedTypes): void {
    const base = dirname(input.file);
    const rel = (p: string) => relative(base, p);
    try {
      const entry: Entry = {
        format: FORMAT,
        files: [...inputs.files.map((f): [string, string] => [rel(f.path), sha(f.text)]), ...inputs.configs.map((c): [string, string] => [rel(c), sha(readFileSync(c))])],
        dirs: [...new Set(inputs.files.map((f) => dirname(f.path)).filter((d) => !d.split(sep).includes("node_modules")))].map((d) => [rel(d), listingSha(d)]),
        config: inputs.configs[0] ? rel(inputs.configs[0]) : null,
        result,
      };
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      // Whole or not at all, also with another deploy writing the same entry (a cache: no fsync).
      writeFileAtomic(this.entryPath(input), JSON.stringify(entry), { durable: false });
      this.prune();
    } catch {
      // best effort: see above
    }
  }

  private stillHolds(input: DeriveInput, entry: Entry): boolean {
    const base = dirname(input.file);
    if ((findTsconfig(base) ?? null) !== (entry.config === null ? null : resolve(base, entry.config))) return false;
    for (const [p, want] of entry.files) if (sha(readFileSync(resolve(base, p))) !== want) return false;
    for (const [d, want] of entry.dirs) if (listingSha(resolve(base, d)) !== want) return false;
    return true;
  }

  /** One entry per operator and content of its own file (the rest is checked on reading). */
  private entryPath(input: DeriveInput): string {
    const key = sha(JSON.stringify([FORMAT, this.salt, input.exportName, input.kind, input.methods, input.forward, relative(dirname(input.file), input.file), sha(readFileSync(input.file))]));
    return join(this.dir, `${key}.json`);
  }

  private prune(): void {
    const all = readdirSync(this.dir);
    // Leftovers of writers that died between write and rename.
    for (const n of all) if (n.endsWith(".tmp") && Date.now() - statSync(join(this.dir, n)).mtimeMs > 60_000) rmSync(join(this.dir, n), { force: true });
    const names = all.filter((n) => n.endsWith(".json"));
    if (names.length <= this.maxEntries) return;
    const byUse = names.map((n) => ({ n, t: statSync(join(this.dir, n)).mtimeMs })).sort((a, b) => a.t - b.t);
    for (const { n } of byUse.slice(0, names.length - this.maxEntries)) rmSync(join(this.dir, n), { force: true });
  }
}

/** The tsconfig.json the compiler would use for a file in `dir` (it looks in `dir`, then each parent). */
function findTsconfig(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const candidate = join(d, "tsconfig.json");
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
    if (dirname(d) === d) return undefined;
  }
}

const sha = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");
const listingSha = (dir: string): string => sha(readdirSync(dir).sort().join("\n"));
