import { NboxError } from "../errors.ts";

const UNITS: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 };

/** Bytes of a Kubernetes-style memory quantity: "512Mi", "1Gi", "500M", "1048576". */
export function parseMemory(q: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]i?)?\s*$/.exec(q);
  if (!m) throw new NboxError("BAD_REQUEST", `resource.memory "${q}" is not a memory quantity`, 'Use e.g. "512Mi" or "1Gi"');
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? "").toLowerCase()]!);
}
