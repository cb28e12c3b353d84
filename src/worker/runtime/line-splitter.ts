// Turns a text stream into lines. Logs are stored line by line, so a partial line is held until
// its newline (or until the stream ends), and one runaway line cannot grow memory without bound.

/** Default cap on a stored log line (characters). */
export const MAX_LINE_CHARS = 16 * 1024;
// Kept from the end of an over-long line: the end of a line is often the interesting part,
// and it is where the child's end-of-run marker lands after an unterminated user line.
const TAIL_CHARS = 512;

export class LineSplitter {
  private head = "";
  private tail = "";
  private dropped = 0;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxChars = MAX_LINE_CHARS,
  ) {}

  push(chunk: string): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf("\n", start);
      if (nl < 0) {
        this.append(chunk.slice(start));
        return;
      }
      this.append(chunk.slice(start, nl));
      this.emit();
      start = nl + 1;
    }
  }

  /** Stream ended: a pending partial line is still a line. */
  end(): void {
    if (this.head !== "" || this.dropped > 0) this.emit();
  }

  private append(text: string): void {
    if (text === "") return;
    if (this.dropped === 0 && this.head.length + text.length <= this.maxChars) {
      this.head += text;
      return;
    }
    // Over the cap: keep the head, a rolling tail, and count what falls in between.
    if (this.dropped === 0) {
      const room = this.maxChars - this.head.length;
      this.head += text.slice(0, room);
      text = text.slice(room);
    }
    const joined = this.tail + text;
    const cut = Math.max(0, joined.length - TAIL_CHARS);
    this.dropped += cut;
    this.tail = joined.slice(cut);
  }

  private emit(): void {
    let line = this.head;
    if (this.dropped > 0) line += ` …[${this.dropped} chars truncated]… ${this.tail}`;
    else line += this.tail;
    this.head = "";
    this.tail = "";
    this.dropped = 0;
    this.onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
  }
}
