// A job's argument lists, checked at trigger time as a serving checks its calls: arity from the
// manifest's recorded signature, then the parameter schemas recorded at deploy. A bad list is
// refused (400 BAD_ARGS) before anything is queued.
import { NboxError } from "../../errors.ts";
import { ArgsChecker, type CheckedSignature } from "../../schema/args-check.ts";
import type { RecordedSignature } from "../../schema/types.ts";
import type { DeploymentVersionRow } from "../store/schema.ts";

// Versions are immutable, so a version's checker (and the validators it compiles) is kept for
// good; the bound only matters on a platform with very many versions being triggered.
const MAX_VERSIONS = 1_000;

interface VersionChecks {
  checker: ArgsChecker;
  sig: CheckedSignature | undefined;
}

export class JobArgs {
  private readonly byVersion = new Map<string, VersionChecks>();

  /**
   * The tagged argument list `wire` checked for a run of version `v` of job `name`; `what` names
   * the list in messages (`args`, `batch[2]`). Returns the wire form unchanged (what the run stores).
   */
  async check(v: DeploymentVersionRow, name: string, wire: unknown, what: string): Promise<unknown> {
    const { checker, sig } = this.checksFor(v);
    const list = wire ?? [];
    try {
      await checker.args(list, "tagged", name, sig ?? { params: [], minArgs: 0, maxArgs: null }, sig ? checker.schemas?.forward : undefined, what);
    } catch (e) {
      if (e instanceof NboxError && what !== "args") throw new NboxError("BAD_ARGS", `${what}: ${e.message}`);
      throw e;
    }
    return list;
  }

  private checksFor(v: DeploymentVersionRow): VersionChecks {
    let hit = this.byVersion.get(v.id);
    if (!hit) {
      const signature = (v.manifest as { signature?: RecordedSignature }).signature;
      const f = signature?.forward;
      // A signature recorded before `minArgs` existed cannot tell `?` parameters apart: no lower bound then.
      const sig = f && Array.isArray(f.params) ? { params: f.params, minArgs: f.minArgs ?? 0, maxArgs: f.maxArgs ?? null } : undefined;
      hit = { checker: new ArgsChecker(signature?.schemas, (message) => new NboxError("BAD_ARGS", message)), sig };
      if (this.byVersion.size >= MAX_VERSIONS) this.byVersion.delete(this.byVersion.keys().next().value!);
      this.byVersion.set(v.id, hit);
    }
    return hit;
  }
}
