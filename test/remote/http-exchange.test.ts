import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import { after, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { httpExchange } from "../../src/remote/http-exchange.ts";
import { REPO } from "../platform/jobs/_helpers.ts";

/** Every accepted connection, so the test's end can close them (the server side holds the process). */
const accepted = new Set<net.Socket>();

async function listen(server: net.Server): Promise<string> {
  server.on("connection", (sock: net.Socket) => {
    accepted.add(sock);
    sock.once("close", () => accepted.delete(sock));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

describe("httpExchange", () => {
  const servers: net.Server[] = [];
  after(() => {
    for (const s of servers) s.close();
    for (const sock of accepted) sock.destroy();
  });

  it("sends the body with its length and answers status and text, also for an error status", async () => {
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        res.statusCode = req.url === "/missing" ? 404 : 200;
        res.end(JSON.stringify({ method: req.method, length: req.headers["content-length"], body, auth: req.headers.authorization }));
      });
    });
    servers.push(server);
    const url = await listen(server);
    const ok = await httpExchange(`${url}/x`, { method: "POST", headers: { authorization: "Bearer t" }, body: "héllo" });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.text), { method: "POST", length: "6", body: "héllo", auth: "Bearer t" });
    const missing = await httpExchange(`${url}/missing`, { method: "GET", headers: {} });
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.text).length, undefined);
  });

  it("rejects with an AbortError when the signal fires while the answer is awaited, and at once when it fired before", async () => {
    const server = http.createServer(() => {}); // never answers
    servers.push(server);
    const url = await listen(server);
    const ctrl = new AbortController();
    const pending = httpExchange(url, { method: "GET", headers: {}, signal: ctrl.signal });
    setTimeout(() => ctrl.abort(), 50);
    await assert.rejects(pending, { name: "AbortError" });
    await assert.rejects(httpExchange(url, { method: "GET", headers: {}, signal: AbortSignal.abort() }), { name: "AbortError" });
  });

  it("gives up on a server that stops answering, saying so", async () => {
    const server = http.createServer(() => {}); // reads the request, never answers
    servers.push(server);
    const url = await listen(server);
    await assert.rejects(httpExchange(url, { method: "POST", headers: {}, body: "{}", idleMs: 200 }), /no answer from 127\.0\.0\.1:\d+: nothing arrived for 200 ms/);
  });

  it("rejects when nothing listens, and refuses a protocol it cannot speak", async () => {
    const server = net.createServer();
    const url = await listen(server);
    await new Promise((r) => server.close(r));
    await assert.rejects(httpExchange(url, { method: "GET", headers: {} }), (err: NodeJS.ErrnoException) => err.code === "ECONNREFUSED");
    await assert.rejects(httpExchange("ftp://127.0.0.1/x", { method: "GET", headers: {} }), /unsupported protocol ftp:/);
  });

  it("tries a repeatable request once more on a fresh connection when a kept connection turns out closed; never a POST", async () => {
    // Answers the first request of each connection and keeps it open; a second request on the
    // same connection finds it closed, as when the server's idle timeout races the next request.
    let connections = 0;
    const server = net.createServer((sock) => {
      connections++;
      let served = 0;
      sock.on("data", (d) => {
        if (!d.toString().includes("\r\n\r\n")) return;
        if (served++ === 0) sock.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok");
        else sock.destroy();
      });
      sock.on("error", () => {});
    });
    servers.push(server);
    const url = await listen(server);
    assert.equal((await httpExchange(url, { method: "GET", headers: {} })).text, "ok");
    assert.equal((await httpExchange(url, { method: "GET", headers: {} })).text, "ok");
    assert.equal(connections, 2);
    // The server may have acted on a POST before the connection broke: the caller decides.
    await assert.rejects(httpExchange(url, { method: "POST", headers: {}, body: "{}" }), (err: NodeJS.ErrnoException) => err.code === "ECONNRESET");
    assert.equal(connections, 2);
  });

  it("sends every request at once, however many are awaited together", { timeout: 30_000 }, async () => {
    // The server answers none until all have arrived: a cap on connections would never get there.
    const n = 300;
    const held: http.ServerResponse[] = [];
    const server = http.createServer((_req, res) => {
      held.push(res);
      if (held.length === n) for (const r of held) r.end("all");
    });
    servers.push(server);
    const url = await listen(server);
    const answers = await Promise.all(Array.from({ length: n }, () => httpExchange(url, { method: "POST", headers: {}, body: "{}" })));
    assert.ok(answers.every((a) => a.text === "all"));
  });

  it("does not keep a process alive once its requests are answered", async () => {
    const server = http.createServer((_req, res) => res.end("done"));
    servers.push(server);
    const url = await listen(server);
    const mod = pathToFileURL(join(REPO, "src/remote/http-exchange.ts")).href;
    const script = `const { httpExchange } = await import(${JSON.stringify(mod)}); const a = await httpExchange(${JSON.stringify(url)}, { method: "GET", headers: {} }); console.log(a.text);`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const [code, signal] = await once(child, "exit");
    clearTimeout(killer);
    assert.deepEqual([code, signal, out.trim()], [0, null, "done"], "the process exits by itself with its connection kept");
  });
});
