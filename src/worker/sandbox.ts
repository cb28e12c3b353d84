// User processes run under bubblewrap where Linux allows it: a fresh mount namespace that shows
// only what the process needs (system libraries, node, the nbox package, its bundle and
// dependencies read-only, its scratch folder read-write) and a pid namespace (so /proc shows no
// platform process: /proc/<pid>/environ, cwd or root of the platform would undo the rest).
// The network is shared: user code may call APIs, including the platform's own.
import { execFile } from "node:child_process";
import { accessSync, constants, lstatSync, readlinkSync, realpathSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { isInside } from "../lib/is-inside.ts";

import type { SandboxStatus } from "../contract/vocabulary.ts";

export interface SandboxMounts {
  /** Trees shown read-only at their own path (node's install prefix, the nbox package). */
  trees: readonly string[];
  /** Paths covered with an empty folder wherever they fall inside `trees` (data folders, ~/.nbox). */
  hide: readonly string[];
  /** Shown read-only after the hiding (the bundle and its dependencies). */
  readOnly: readonly string[];
  /** Shown read-write (the scratch folder, the compile cache). */
  readWrite: readonly string[];
  cwd: string;
}

// Top-level system folders: a merged-/usr system has them as links into /usr.
const SYSTEM_LINKS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
// What programs need from /etc (name resolution, trust roots, users, time zone, loader), and
// nothing else: /etc also holds keys and password hashes readable by the platform's user.
const ETC = [
  "resolv.conf",
  "hosts",
  "host.conf",
  "nsswitch.conf",
  "gai.conf",
  "services",
  "protocols",
  "passwd",
  "group",
  "localtime",
  "timezone",
  "alternatives",
  "ld.so.cache",
  "ld.so.conf",
  "ld.so.conf.d",
  "ssl/certs",
  "ssl/openssl.cnf",
  "ca-certificates",
  "ca-certificates.conf",
  "pki/tls/certs",
  "pki/ca-trust",
  "crypto-policies",
  "mime.types",
  "os-release",
];

/** Node's install prefix (`<prefix>/bin/node`): it may live outside /usr (nvm, a tarball in /opt). */
export function nodePrefix(): string {
  return dirname(dirname(realpathSync(process.execPath)));
}

/** bubblewrap arguments (without the command) for one process. */
export function bwrapArgs(m: SandboxMounts): string[] {
  // No --new-session: the sandbox is spawned as its own session and process group (no controlling
  // terminal to inject input into), and must stay in that group so it can be killed as one.
  const a = ["--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"];
  a.push("--ro-bind", "/usr", "/usr");
  for (const p of SYSTEM_LINKS) {
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) a.push("--symlink", readlinkSync(p), p);
    else if (st?.isDirectory()) a.push("--ro-bind", p, p);
  }
  for (const name of ETC) a.push("--ro-bind-try", `/etc/${name}`, `/etc/${name}`);
  a.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
  const trees = m.trees.filter((t) => t !== "/" && !isInside(t, "/usr"));
  for (const t of trees) a.push("--ro-bind", t, t);
  for (const h of m.hide) {
    if (!["/usr", ...trees].some((t) => isInside(h, t))) continue; // not shown anyway
    const st = lstatSync(h, { throwIfNoEntry: false });
    if (st?.isDirectory()) a.push("--tmpfs", h);
    else if (st) a.push("--ro-bind", "/dev/null", h);
  }
  for (const p of m.readOnly) a.push("--ro-bind", p, p);
  for (const p of m.readWrite) a.push("--bind", p, p);
  a.push("--chdir", m.cwd);
  return a;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Whether user processes can be sandboxed here: bwrap must exist and start node in a sandbox
 * built like the real ones (kernels or containers without user namespaces refuse).
 */
export async function probeSandbox(trees: readonly string[]): Promise<SandboxStatus> {
  if (process.platform !== "linux") return { kind: "none", reason: `sandboxing needs Linux with bubblewrap; this is ${process.platform}` };
  const bwrap = onPath("bwrap");
  if (!bwrap) return { kind: "none", reason: "bwrap was not found on PATH (install the bubblewrap package)" };
  const args = [...bwrapArgs({ trees, hide: [], readOnly: [], readWrite: [], cwd: "/" }), process.execPath, "-e", ""];
  return new Promise((resolve) => {
    execFile(bwrap, args, { timeout: 15_000, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } }, (err, _out, stderr) => {
      if (!err) return resolve({ kind: "bwrap", bwrap });
      const why = stderr.trim().split("\n")[0] || err.message;
      resolve({ kind: "none", reason: `bwrap could not start a sandbox: ${why}` });
    });
  });
}
