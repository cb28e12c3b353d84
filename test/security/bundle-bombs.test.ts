// Decompression bombs, end to end: ~3 MB uploads that declare several GiB (one huge file, or many big
// ones) and a tarball of 200,000 empty files. Each is refused with the limit it crossed while it is
// read, the platform's memory stays flat, and /health keeps answering while each bomb is read (a
// decompression that held the event loop would leave it unanswered until the refusal).
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { Agent, get as httpGet } from "node:http";
import { join } from "node:path";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startTestPlatform, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";
import { fileHeader, gzipParts, manyEmptyFiles, padding, putBundle } from "./bundle-helpers.ts";

/** A full GC without `--expose-gc` on the command line. */
function collectGarbage(): void {
  v8.setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** nbox.json as the first entry (header, bytes, padding), claiming `hash`. */
function manifestPart(hash: string): Buffer {
  const data = Buffer.from(
    JSON.stringify({ formatVersion: 1, entry: "ops.ts", export: "foo", kind: "fn", init: [], type: "job", name: "bomb", resource: {}, schedule: null, contentHash: hash, lockfileHash: null }),
  );
  return Buffer.concat([fileHeader("nbox.json", data.length), data, Buffer.alloc(padding(data.length))]);
}

/** GET /health over a kept-alive connection: the sample measures the platform, not client setup. */
function healthProbe(url: string): { get(): Promise<number>; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return {
    get: () =>
      new Promise((resolve, reject) => {
        httpGet(`${url}/api/v1/health`, { agent }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode!));
        }).on("error", reject);
      }),
    close: () => agent.destroy(),
  };
}

describe("security: decompression bombs", () => {
  let tp: TestPlatform;
  let token: string;
  before(async () => {
    tp = await startTestPlatform();
    token = (await tp.api("POST", "/tokens", { workspace: wsName("bombs"), name: "attacker" })).json.secret;
  });
  after(async () => {
    await tp?.close();
  });

  it("bombs are refused with the limit they cross; memory stays flat and /health keeps answering meanwhile", async () => {
    const hashes = ["a1", "b2", "c3"].map((h) => h.repeat(32));
    // (a) one file that declares 3 GiB (all of it really in the stream: 192 members of 16 MiB of zeros)
    const huge = gzipParts([manifestPart(hashes[0]!), fileHeader("data/huge.bin", 3 * GiB), 3 * GiB]);
    // (a') twelve files of 255 MiB each: every one under the per-file limit, 3 GiB together
    const partSize = 255 * MiB;
    const many = gzipParts([manifestPart(hashes[1]!), ...Array.from({ length: 12 }, (_, i) => [fileHeader(`data/part-${i}.bin`, partSize), partSize]).flat()]);
    // (b) 200,000 empty files
    const files = await manyEmptyFiles(200_000, [manifestPart(hashes[2]!)]);
    for (const b of [huge, many, files]) assert.ok(b.length < 4 * MiB, `bomb is ${b.length} bytes`);

    // Sample /health every ~10 ms (this process is the platform's) and the platform's RSS, during the uploads.
    collectGarbage(); // the baseline should not count this test's own garbage from building the bombs
    const baseRss = process.memoryUsage().rss;
    let maxRss = baseRss;
    const latencies: number[] = [];
    let sampling = true;
    const probe = healthProbe(tp.url);
    const health = probe.get;
    await health();
    const sampler = (async () => {
      while (sampling) {
        const t0 = performance.now();
        assert.equal(await health(), 200);
        latencies.push(performance.now() - t0);
        maxRss = Math.max(maxRss, process.memoryUsage().rss);
        await sleep(10);
      }
    })();

    // /health answers received while an upload was being read.
    const answeredDuring: number[] = [];
    const upload = async (hash: string, body: Buffer) => {
      const before = latencies.length;
      const res = await putBundle(tp.url, token, hash, body);
      answeredDuring.push(latencies.length - before);
      return res;
    };
    try {
      const a = await upload(hashes[0]!, huge);
      assert.equal(a.status, 413, JSON.stringify(a.json));
      assert.match(a.json.error.message, /limit maxFileBytes/);
      assert.match(a.json.error.message, /--max-bundle-file/);

      const m = await upload(hashes[1]!, many);
      assert.equal(m.status, 413, JSON.stringify(m.json));
      assert.match(m.json.error.message, /expands to more than 1\.0 GiB.*limit maxUnpackedBytes/);
      assert.match(m.json.error.message, /--max-bundle-unpacked/);

      const f = await upload(hashes[2]!, files);
      assert.equal(f.status, 400, JSON.stringify(f.json));
      assert.match(f.json.error.message, /more than 50000 entries.*limit maxEntries/);
      assert.match(f.json.error.message, /--max-bundle-entries/);
    } finally {
      sampling = false;
      await sampler;
      probe.close();
    }

    // Each bomb takes seconds to read; an event loop held by it would answer none meanwhile.
    const sorted = [...latencies].sort((x, y) => x - y);
    const seen = `answers during the three uploads: ${answeredDuring.join(", ")}; /health p99 ${sorted[Math.floor(0.99 * (sorted.length - 1))]!.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`;
    for (const n of answeredDuring) assert.ok(n >= 5, `/health went unanswered while a bomb was read (${seen})`);
    const grewMb = (maxRss - baseRss) / MiB;
    assert.ok(grewMb < 500, `platform RSS grew by ${grewMb.toFixed(0)} MB`);

    // Nothing of the bombs stays behind.
    for (const h of hashes) {
      assert.equal((await tp.api("GET", `/bundles/${h}`)).json.exists, false);
      assert.equal(existsSync(join(tp.dataDir, "bundles", `${h}.tgz`)), false);
    }
    assert.deepEqual(readdirSync(join(tp.dataDir, "bundles", ".incoming")), []);
  });
});

describe("security: bundle upload size", () => {
  let tp: TestPlatform;
  before(async () => {
    tp = await startTestPlatform({ maxBundleBytes: 64 * 1024 });
  });
  after(async () => {
    await tp?.close();
  });

  it("an upload over the compressed limit is 413, announced or streamed, and leaves nothing behind", async () => {
    const token = (await tp.api("POST", "/tokens", { workspace: wsName("size"), name: "size" })).json.secret;
    const body = Buffer.alloc(256 * 1024, 7);
    const announced = await putBundle(tp.url, token, "d4".repeat(32), body);
    assert.equal(announced.status, 413, JSON.stringify(announced.json));
    assert.match(announced.json.error.message, /larger than the platform limit of 64\.0 KiB.*--max-bundle/);
    // Without Content-Length the body is counted as it streams.
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < body.length; i += 16 * 1024) c.enqueue(body.subarray(i, i + 16 * 1024));
        c.close();
      },
    });
    const res = await fetch(`${tp.url}/api/v1/bundles/${"e5".repeat(32)}`, { method: "PUT", headers: { authorization: `Bearer ${token}` }, body: stream, duplex: "half" } as RequestInit);
    assert.equal(res.status, 413, await res.text());
    assert.deepEqual(readdirSync(join(tp.dataDir, "bundles", ".incoming")), []);
  });
});
