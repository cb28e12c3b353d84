// Work over many items a few at a time: `lanes` loops take the next item until none is left, so
// at most that many are under way at once (file syncs, reads of /proc).

/**
 * Run `each` over `items`, at most `lanes` at once. `lane` makes each lane's `each` (a lane may keep
 * its own buffer).
 */
export async function inLanes<T>(items: readonly T[], lanes: number, lane: () => (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const run = async () => {
    const each = lane();
    while (next < items.length) await each(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, run));
}
