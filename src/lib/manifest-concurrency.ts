/** The runs at once a version's manifest asks for, over all workers (`resource.concurrency`; 0 = no limit). */
export function concurrencyOf(manifest: unknown): number {
  return Number((manifest as { resource?: { concurrency?: number } } | null)?.resource?.concurrency ?? 0);
}
