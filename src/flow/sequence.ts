// One straight-line run of nodes (a body, a branch arm, a loop body). Plain statements are held
// back and merged into a single "code" node, flushed just before the next real node so ids stay
// in source order.
import type { AnyNode } from "acorn";

export class Sequence {
  readonly ids: string[] = [];
  pendingCode: AnyNode[] = [];

  constructor(
    /** Enclosing branch/loop node, or the call node whose child forward this is. */
    readonly parent: string | undefined,
    /** Told about the first node, so a forward being expanded can be referenced while still in progress. */
    readonly onFirst?: (id: string) => void,
  ) {}

  push(id: string): void {
    if (this.ids.length === 0) this.onFirst?.(id);
    this.ids.push(id);
  }
}
