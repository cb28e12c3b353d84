// Who writes a temporary file into a cache worker processes may share: `<pid>@<host>`. A later
// start can then tell a leftover of a dead process of this machine (safe to remove) from the work
// of a process elsewhere — another host or container sharing the folder, whose pid means nothing here.
import { createHash } from "node:crypto";
import { hostname } from "node:os";

/** This machine (or container), as 8 hex characters of its host name. */
export const HOST_TAG = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);

/** The tag this process puts into the names of what it writes. */
export function writerTag(): string {
  return `${process.pid}@${HOST_TAG}`;
}

/** A writer tag followed by `-` inside a name pattern: group 1 the pid, group 2 the host (both absent in names from before). */
export const WRITER_PATTERN = String.raw`(?:(\d+)(?:@([0-9a-f]{8}))?-)?`;

/** The pid a name's writer tag names on this machine; undefined when there is none, or it is of another machine. */
export function localWriterPid(pid: string | undefined, host: string | undefined): number | undefined {
  if (pid === undefined || (host !== undefined && host !== HOST_TAG)) return undefined;
  return Number(pid);
}
