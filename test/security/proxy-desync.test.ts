// Request desync on the serving proxy: requests whose framing headers promise a body the proxy
// does not forward (a GET/HEAD with Content-Length or chunked encoding, a Content-Length that
// disagrees with the bytes sent) must never leave a pooled connection to the serving child
// half-read, where the next, unrelated caller's request would be misparsed.
import { after, before, describe, it, mock } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { upstreamHeaders } from "../../src/serving-proxy/proxy-headers.ts";
import { SECRET_HEADER } from "../../src/serving-proxy/proxy-headers.ts";
import { importProject, KIT_FILES, raw, startTestPlatform, wsName, type TestPlatform } from "../platform/serving/_helpers.ts";

/** Write `text` on a fresh connection; resolve with whatever comes back before the server closes or `ms` pass. */
function rawSend(port: number, text: string, ms = 1_500): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let got = "";
    const done = () => {
      clearTimeout(t);
      sock.destroy();
      resolve(got);
    };
    const t = setTimeout(done, ms);
    sock.on("data", (c) => (got += c.toString("latin1")));
    sock.on("error", done);
    sock.on("close", done);
    sock.write(text);
  });
}

/** node:http with a body on a GET (the client sends it as it is told). */
function httpGetWithBody(url: string, token: string, body: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: "GET", headers: { authorization: `Bearer ${token}`, "content-length": Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(1_500, () => req.destroy());
    req.on("error", () => resolve(0));
    req.end(body);
  });
}

describe("security: serving proxy framing (request desync)", () => {
  let tp: TestPlatform;
  let kit: any;
  let base: string; // `/s/<ws>/Kit/`
  let port: number;

  before(async () => {
    tp = await startTestPlatform();
    const mod = (await importProject(KIT_FILES)).mod;
    kit = await mod.Kit.deploy(wsName("desync"));
    base = new URL(kit.$url).pathname;
    port = tp.platform.port;
  });
  after(async () => {
    await tp?.close();
  });

  /** Each crafted request, as raw bytes on its own client connection. */
  const attacks = (): string[] => {
    // `Connection: close` (a hop-by-hop header, only between caller and platform) makes each answer end its
    // connection, so the victims below follow while a half-read upstream connection is still pooled.
    const head = (method: string, path: string, extra: string) =>
      `${method} ${base}${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${kit.$token}\r\n${/^connection:/im.test(extra) ? "" : "Connection: close\r\n"}${extra}\r\n`;
    // A body big enough to swallow a whole request line + headers of the next caller.
    const pad = "x".repeat(300);
    // An unfinished request: the next caller's head would complete it, and get its answer.
    const smuggled = "GET /attr/label HTTP/1.1\r\nX-Pad: ";
    const chunked = (body: string) => `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    return [
      head("GET", "who_are_you", `Content-Length: ${pad.length}\r\n`) + pad,
      head("HEAD", "who_are_you", `Content-Length: ${pad.length}\r\n`) + pad,
      head("GET", "attr/x", `Content-Length: 40\r\n`) + "y".repeat(40),
      head("GET", "attr/x", "Transfer-Encoding: chunked\r\n") + chunked(pad),
      head("HEAD", "attr/x", "Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\n0\r\n\r\n",
      // Content-Length smaller than the bytes sent: the rest is a second request on that client connection.
      head("POST", "call/echo", `Content-Type: application/json\r\nContent-Length: 13\r\n`) + `{"args":["a"]}GARBAGE / HTTP/1.1\r\n\r\n`,
      // Content-Length larger than the bytes sent: the caller stops early (the proxy must not forward a promise it cannot keep).
      head("POST", "call/echo", `Content-Type: application/json\r\nContent-Length: 5000\r\n`) + `{"args":["b"]}`,
      // Methods Node sends without framing by default: a chunked body must still be framed towards the
      // child, else it is read there as the start of a request that swallows the next caller's head.
      head("DELETE", "attr/x", "Transfer-Encoding: chunked\r\n") + chunked(smuggled),
      head("OPTIONS", "who_are_you", "Transfer-Encoding: chunked\r\n") + chunked(smuggled),
      // A hop-by-hop header naming a framing header, and a proxy-* header.
      head("GET", "attr/x", `Connection: keep-alive, content-length\r\nProxy-Connection: keep-alive\r\nContent-Length: 60\r\n`) + "z".repeat(60),
    ];
  };

  it("200 concurrent normal calls all succeed while malformed requests are interleaved", async () => {
    const crafted = attacks();
    const normal: Promise<{ status: number; value: unknown; i: number }>[] = [];
    const noise: Promise<unknown>[] = [];
    // Ten waves: a volley of malformed requests, and as soon as it is answered (its upstream
    // connections back in the pool) 20 more normal calls, without waiting for the earlier ones.
    for (let wave = 0; wave < 10; wave++) {
      const volley = [...crafted.map((a) => rawSend(port, a)), httpGetWithBody(kit.$url + "who_are_you", kit.$token, "q".repeat(500))];
      noise.push(...volley);
      await Promise.race([Promise.all(volley.slice(0, 5)), new Promise((r) => setTimeout(r, 300))]);
      for (let k = 0; k < 20; k++) {
        const i = wave * 20 + k;
        normal.push(raw(kit.$url, kit.$token, "POST", "call/echo", { args: [`victim-${i}`] }).then((r) => ({ status: r.status, value: r.json?.value, i })));
      }
    }
    const results = await Promise.all(normal);
    await Promise.all(noise);
    const bad = results.filter((r) => r.status !== 200 || r.value !== `victim-${r.i}`);
    assert.equal(bad.length, 0, `${bad.length} of 200 normal calls failed, e.g. ${JSON.stringify(bad.slice(0, 3))}`);
    // And afterwards the serving is still healthy for plain callers.
    assert.equal((await raw(kit.$url, kit.$token, "GET", "attr/x")).status, 200);
  });

  it("a GET/HEAD that declares a body is refused with 400 naming the header; Content-Length: 0 passes", async () => {
    const get = await rawSend(port, `GET ${base}attr/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${kit.$token}\r\nContent-Length: 3\r\n\r\nabc`);
    assert.match(get, /^HTTP\/1\.1 400 /);
    assert.match(get, /declares Content-Length: 3/);
    const te = await rawSend(port, `GET ${base}attr/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${kit.$token}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
    assert.match(te, /^HTTP\/1\.1 400 [\s\S]*declares Transfer-Encoding: chunked/);
    const zero = await rawSend(port, `GET ${base}attr/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${kit.$token}\r\nContent-Length: 0\r\n\r\n`);
    assert.match(zero, /^HTTP\/1\.1 200 /);
  });

  it("a HEAD is answered once, with the GET's status and no body; one declaring a body gets its 400 and the connection closes", async () => {
    const logged = mock.method(console, "error", () => {});
    try {
      const head = (extra = "") => rawSend(port, `HEAD ${base}who_are_you HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${kit.$token}\r\n${extra}\r\n`);
      const ok = await head();
      assert.match(ok, /^HTTP\/1\.1 200 /);
      assert.match(ok, /content-type: application\/json/i);
      assert.ok(ok.endsWith("\r\n\r\n"), "no body after the head");
      const refused = await head("Content-Length: 3\r\n");
      assert.match(refused, /^HTTP\/1\.1 400 [\s\S]*connection: close/i);
      // The platform's own log: a second answer written on the same response would be reported there.
      assert.deepEqual(logged.mock.calls.map((c) => String(c.arguments[0])), []);
    } finally {
      logged.mock.restore();
    }
  });

  it("hop-by-hop, framing and credential headers never reach the child", () => {
    const out = upstreamHeaders(
      {
        connection: "keep-alive, x-hop",
        "keep-alive": "timeout=5",
        "x-hop": "1",
        te: "trailers",
        trailer: "x-t",
        upgrade: "websocket",
        "proxy-authorization": "Basic x",
        "proxy-connection": "keep-alive",
        "content-length": "12",
        "transfer-encoding": "chunked",
        expect: "100-continue",
        authorization: "Bearer nbx_secret",
        [SECRET_HEADER]: "forged",
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "content-type": "application/json",
      },
      "the-real-secret",
    );
    assert.deepEqual(Object.keys(out).sort(), ["content-type", "traceparent", SECRET_HEADER].sort());
    assert.equal(out[SECRET_HEADER], "the-real-secret");
  });
});
