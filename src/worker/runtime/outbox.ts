// Messages to the other side of the IPC channel, coalesced per event-loop turn: under load a busy
// serving gets many calls (or answers many) in one turn, and one pipe write for all of them costs
// far less than one each. A lone message still leaves within the same turn.

export type Envelope<M> = M | M[];

export class Outbox<M> {
  private queued: M[] = [];
  private scheduled = false;

  constructor(private readonly write: (batch: Envelope<M>) => void) {}

  push(msg: M): void {
    this.queued.push(msg);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Send what is queued now (before exiting, or when order with other output matters). */
  flush(): void {
    this.scheduled = false;
    const batch = this.queued;
    if (batch.length === 0) return;
    this.queued = [];
    this.write(batch.length === 1 ? batch[0]! : batch);
  }
}

/** The messages in what arrived: one message, or a batch of them. */
export function unpack(envelope: unknown): unknown[] {
  return Array.isArray(envelope) ? envelope : [envelope];
}
