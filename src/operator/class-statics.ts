import type { AnyClass } from "./types.ts";

/** Statics added to a wrapped class. (`deploy` joins when the remote layer exists.) */
export function classStatics<C extends AnyClass>(_cls: C) {
  return {};
}
