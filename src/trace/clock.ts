import { performance } from "node:perf_hooks";

// performance.now() is monotonic and cheap; anchor it to the epoch once.
const origin = performance.timeOrigin;
export const nowMs = (): number => origin + performance.now();
