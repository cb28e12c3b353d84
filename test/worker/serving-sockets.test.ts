// A worker hands a serving's requests to that serving's HTTP app inside its own process (hono's
// getRequestListener behind the worker's one listener; every operation on the instance is an IPC
// call into the serving's child runtime). So deploying servings opens no listening socket, TCP or
// unix, in the worker process, and the serving child processes listen on nothing either. Counted
// from /proc: a per-serving socket coming back makes this test fail.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { createWorkerToken, importProject, REPO, startTestPlatform, startWorkerProcess, wsName, type TestPlatform, type WorkerProc } from "./_helpers.ts";

const HAVE_PROC = process.platform === "linux" && existsSync("/proc/self/fd") && existsSync("/proc/self/net/unix");

/** The socket inodes a process holds open (its /proc/<pid>/fd links `socket:[inode]`). */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // Closed while we looked.
    }
  }
  return inodes;
}

/** The inodes of listening sockets in a /proc/<pid>/net table (the process's own network namespace). */
function listeningInodes(pid: number): { tcp: Set<string>; unix: Set<string> } {
  const rows = (file: string) =>
    existsSync(`/proc/${pid}/net/${file}`)
      ? readFileSync(`/proc/${pid}/net/${file}`, "utf8").split("\n").slice(1).map((l) => l.trim().split(/\s+/)).filter((c) => c.length > 6)
      : [];
  const tcp = new Set<string>();
  // sl local_address rem_address st … inode: state 0A is LISTEN, the inode is the 10th column.
  for (const c of [...rows("tcp"), ...rows("tcp6")]) if (c[3] === "0A") tcp.add(c[9]!);
  const unix = new Set<string>();
  // Num RefCount Protocol Flags Type St Inode Path: flag __SO_ACCEPTCON (00010000) marks a listening socket.
  for (const c of rows("unix")) if (c[3] === "00010000") unix.add(c[6]!);
  return { tcp, unix };
}

/** How many listening TCP (v4 and v6) and unix sockets a process holds. */
function listeningSockets(pid: number): { tcp: number; unix: number } {
  const mine = socketInodes(pid);
  const listening = listeningInodes(pid);
  const count = (s: Set<string>) => [...s].filter((i) => mine.has(i)).length;
  return { tcp: count(listening.tcp), unix: count(listening.unix) };
}

/** Every live descendant of a process (children, their children, …), from the ppid in /proc/<pid>/stat. */
function descendants(root: number): Array<{ pid: number; cmd: string }> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z") continue;
      const list = children.get(Number(ppid)) ?? [];
      list.push(pid);
      children.set(Number(ppid), list);
    } catch {
      // Exited while we looked.
    }
  }
  const out: Array<{ pid: number; cmd: string }> = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length) {
    const pid = queue.shift()!;
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    } catch {
      continue;
    }
    out.push({ pid, cmd });
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

describe("deploying servings opens no listening socket in the worker or its serving processes", { skip: HAVE_PROC ? false : "needs Linux /proc to count a process's listening sockets" }, () => {
  let tp: TestPlatform;
  let token: Awaited<ReturnType<typeof createWorkerToken>> | undefined;
  let worker: WorkerProc | undefined;

  before(async () => {
    // A control plane without a worker of its own (embedded store), and `nbx worker` as a separate
    // process: its pid is the process that hosts the servings' apps.
    tp = await startTestPlatform({ executor: false });
    token = await createWorkerToken(tp.url, tp.token, "serving sockets test");
    worker = await startWorkerProcess({ url: tp.url, token: token.secret });
  });
  after(async () => {
    await worker?.stop();
    await token?.revoke();
    await tp?.close();
  });

  it("two servings up and answering; the worker's listening sockets are the same as before, its serving children have none", { timeout: 60_000 }, async () => {
    const pid = worker!.pid;
    const before = listeningSockets(pid);
    // The worker's own listener (the one the control plane proxies serving requests to) is seen:
    // the counter finds real listeners, so a new one would show.
    assert.ok(before.tcp >= 1, `the worker's own listener is counted: ${JSON.stringify(before)}`);
    assert.deepEqual(
      descendants(pid).map((p) => ({ ...p, ...listeningSockets(p.pid) })).filter((p) => p.tcp + p.unix > 0),
      [],
      "no process under the worker listens before any serving",
    );

    const ws = wsName("sockets");
    const { mod: barMod } = await importProject(join(REPO, "examples/bar"));
    const { mod: typedMod } = await importProject(join(REPO, "test/platform/serving/fixtures/typed"));
    const bar = await barMod.Bar.deploy(ws, { client: tp.client });
    const typed = await typedMod.Typed.deploy(ws, { client: tp.client });
    // Each answers through the control plane's URL (so each is placed, started and reached).
    await bar.inc();
    assert.equal(await bar.x, 2);
    assert.equal(await typed.label, "typed");
    for (const s of [bar, typed]) assert.ok(s.$url.startsWith(`${tp.url}/s/${ws}/`), s.$url);
    const placed = (await tp.platform.ctx.store.listServings()).filter((s) => s.urlPath?.startsWith(`/s/${ws}/`));
    assert.deepEqual(
      placed.map((s) => [s.urlPath, s.workerId, s.status]).sort(),
      [
        [`/s/${ws}/Bar/`, worker!.id, "ready"],
        [`/s/${ws}/Typed/`, worker!.id, "ready"],
      ],
      "both servings are hosted by the worker process under watch",
    );

    const afterDeploy = listeningSockets(pid);
    assert.deepEqual(afterDeploy, before, "deploying servings opened no listening socket in the worker");

    // The servings' instances live in child processes of the worker; they listen on nothing.
    const under = descendants(pid);
    // (Through a sandbox, when there is one: the runtime's command line is then bwrap's tail.)
    assert.ok(under.filter((p) => p.cmd.includes("runtime-main")).length >= 2, `the worker runs a runtime process per serving: ${JSON.stringify(under)}`);
    const listeners = under.map((p) => ({ ...p, ...listeningSockets(p.pid) })).filter((p) => p.tcp + p.unix > 0);
    assert.deepEqual(listeners, [], "no serving process (or anything else under the worker) listens");
  });
});
