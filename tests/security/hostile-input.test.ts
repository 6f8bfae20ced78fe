/**
 * Hostile input, bounded and on loopback only: the exporter runs as a child process collecting
 * from the secure broker (SASL_SSL) and from a fake "broker" that accepts connections and breaks
 * them mid-response, while 1,000 malformed or slow HTTP clients hit it (garbage bytes, huge
 * headers and URLs, slowloris connections, 10 MB bodies, pipelined requests nobody reads).
 * /metrics must keep answering, collection must go on, RSS must come back near its baseline, and
 * the fake cluster must be reported down without taking anything else with it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import type { Socket, TCPSocketListener } from "bun";
import { parseExposition, value } from "../helpers/exposition.ts";
import { uniqueName } from "../kafka/harness.ts";
import {
  commit,
  type ExporterProcess,
  freePort,
  grant,
  internalAdmin,
  type SecureCluster,
  spawnExporter,
  startSecureCluster,
  stopSecureCluster,
  topicWithMessages,
  until,
} from "./support.ts";

let info: SecureCluster;
let exporter: ExporterProcess;
let port: number;
let base: string;
let fake: TCPSocketListener<{ n: number }>;
const fakeStats = { connections: 0, behaviours: new Map<string, number>() };
let group: string;

/** The fake broker: every connection misbehaves in one of these ways once it has a request. */
const BEHAVIOURS = ["close-at-once", "close-after-request", "half-response", "huge-length", "garbage-body"] as const;

function startFakeBroker(): TCPSocketListener<{ n: number }> {
  return Bun.listen<{ n: number }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { n: fakeStats.connections++ };
        const b = BEHAVIOURS[socket.data.n % BEHAVIOURS.length]!;
        fakeStats.behaviours.set(b, (fakeStats.behaviours.get(b) ?? 0) + 1);
        if (b === "close-at-once") socket.end();
      },
      data(socket: Socket<{ n: number }>, request: Buffer) {
        const b = BEHAVIOURS[socket.data.n % BEHAVIOURS.length]!;
        // Kafka request: int32 size, int16 api key, int16 version, int32 correlation id, …
        const correlation = request.length >= 12 ? request.readInt32BE(8) : 0;
        const frame = (size: number, body: Buffer) => {
          const head = Buffer.alloc(8);
          head.writeInt32BE(size, 0);
          head.writeInt32BE(correlation, 4);
          return Buffer.concat([head, body]);
        };
        if (b === "half-response") {
          socket.write(frame(200, Buffer.from([0, 0, 0, 0, 0, 3])));
          setTimeout(() => socket.end(), 20);
        } else if (b === "huge-length") {
          socket.write(frame(0x7fffffff, Buffer.alloc(64, 0x41)));
          setTimeout(() => socket.end(), 20);
        } else if (b === "garbage-body") {
          // A complete frame whose body claims a million-entry array.
          socket.write(frame(4 + 10, Buffer.from([0, 0, 0x00, 0x0f, 0x42, 0x40, 1, 2, 3, 4])));
          setTimeout(() => socket.end(), 50);
        } else {
          socket.end();
        }
      },
    },
  });
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
}

async function scrape(timeoutMs = 3_000): Promise<{ status: number; ms: number; text: string }> {
  const started = performance.now();
  try {
    const r = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: r.status, ms: performance.now() - started, text: await r.text() };
  } catch (error) {
    return { status: 0, ms: performance.now() - started, text: String(error) };
  }
}

beforeAll(async () => {
  info = await startSecureCluster("security-hostile");
  const admin = await internalAdmin(info);
  const p = uniqueName("hostile");
  group = `${p}-g`;
  try {
    await topicWithMessages(info, admin, `${p}-t`, 4, 50);
    await commit(admin, group, `${p}-t`, [10, 20, 30, 40]);
    await grant(admin, "User:exporter", [
      { resource: "cluster", operation: "describe" },
      { resource: "topic", name: `${p}-`, prefixed: true, operation: "describe" },
      { resource: "group", name: `${p}-`, prefixed: true, operation: "describe" },
    ]);
  } finally {
    await admin.disconnect();
  }
  fake = startFakeBroker();
  port = freePort();
  base = `http://127.0.0.1:${port}`;
  const configPath = `${info.dir}/hostile-config.toml`;
  writeFileSync(
    configPath,
    `[exporter]
poll_interval = "1s"
http_host = "127.0.0.1"
http_port = ${port}
granularity = "partition"
staleness_threshold = "1m"
[exporter.performance]
kafka_timeout = "3s"
[exporter.timestamp_sampling]
enabled = false
[[clusters]]
name = "secure"
bootstrap_servers = "${info.listeners.saslSsl}"
group_whitelist = ["^${p}-"]
topic_whitelist = ["^${p}-"]
[clusters.consumer_properties]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "exporter"
"sasl.password" = "\${KAFKA_PASSWORD}"
"ssl.ca.location" = "${info.pki.ca}"
[[clusters]]
name = "fake"
bootstrap_servers = "127.0.0.1:${fake.port}"
`,
  );
  exporter = spawnExporter(["run", "--config", configPath], { KAFKA_PASSWORD: info.users.exporter });
  let last = "";
  try {
    // The URL it logs, not just any server on the port: another process may have taken it.
    expect(await exporter.listening()).toBe(base);
    await until(
      async () => {
        last = (await scrape()).text;
        const s = parseExposition(last);
        return value(s, "kafka_consumergroup_group_sum_lag", { cluster_name: "secure", group }) === 100
          ? true
          : undefined;
      },
      60_000,
      "the exporter to report the secure cluster",
    );
  } catch (error) {
    await exporter.stop();
    const lines = exporter
      .stderr()
      .split("\n")
      .filter((l) => !l.includes("level=debug"));
    const self = last.split("\n").filter((l) => /cluster_up|sum_lag|failed_groups/.test(l) && !l.startsWith("#"));
    throw new Error(
      `${String(error)}\n--- last scrape ---\n${self.join("\n")}\n--- stderr ---\n${lines.join("\n").slice(0, 4000)}`,
    );
  }
}, 180_000);

afterAll(async () => {
  await exporter?.stop();
  fake?.stop(true);
  stopSecureCluster(info);
});

/** Opens a raw TCP connection to the exporter; `script` drives it; resolves when it closes. */
function raw(script: (s: Socket<undefined>) => void, maxMs: number): Promise<{ bytes: number; head: string }> {
  return new Promise((resolve) => {
    let bytes = 0;
    let head = "";
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ bytes, head });
    };
    const timer = setTimeout(() => {
      sock?.then((s) => s.end()).catch(() => {});
      finish();
    }, maxMs);
    const sock = Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (s) => script(s),
        data(_s, d) {
          if (head === "") head = d.subarray(0, 40).toString("latin1");
          bytes += d.length;
        },
        close: finish,
        error: finish,
        connectError: finish,
      },
    }).catch(() => {
      finish();
      return undefined as unknown as Socket<undefined>;
    });
  });
}

/** Runs `tasks` with at most `limit` in flight. */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}

describe("hostile clients and a broken broker", () => {
  test("1,000 malformed or slow requests: /metrics keeps answering, collection goes on, RSS returns near baseline", async () => {
    // Warm up: normal scrapes, then take the baseline.
    for (let i = 0; i < 200; i++) expect((await scrape()).status).toBe(200);
    await Bun.sleep(2_000);
    const baselineKb = rssKb(exporter.proc.pid);
    const before = parseExposition((await scrape()).text);
    const updatedBefore = value(before, "kafka_lag_exporter_last_update_timestamp_seconds", {
      cluster_name: "secure",
    })!;

    const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
    type Outcome = { bytes: number; head: string } | number;
    const tasks: (() => Promise<Outcome>)[] = [];
    const kinds: string[] = [];
    const add = (kind: string, task: () => Promise<Outcome>) => {
      kinds.push(kind);
      tasks.push(task);
    };
    // 200 garbage byte streams.
    for (let i = 0; i < 200; i++) {
      add("garbage", () =>
        raw((s) => {
          s.write(random(512 + (i % 8) * 512));
          s.end();
        }, 5_000),
      );
    }
    // 150 huge headers (64 KB – 1 MB) and huge URLs.
    for (let i = 0; i < 150; i++) {
      const size = [64, 256, 1024][i % 3]! * 1024;
      const request =
        i % 2 === 0
          ? `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(size)}\r\n\r\n`
          : `GET /metrics?${"q".repeat(size)} HTTP/1.1\r\nHost: x\r\n\r\n`;
      add(i % 2 === 0 ? "huge-header" : "huge-url", () => raw((s) => s.write(request), 10_000));
    }
    // 200 slowloris connections: a request line, then a header byte now and then, never finished.
    for (let i = 0; i < 200; i++) {
      add("slowloris", () =>
        raw((s) => {
          s.write("GET /metrics HTTP/1.1\r\nHost: x\r\n");
          const trickle = setInterval(() => {
            if (s.write("X-Slow: 1\r\n") < 0) clearInterval(trickle);
          }, 1_000);
          setTimeout(() => clearInterval(trickle), 14_000);
        }, 15_000),
      );
    }
    // 50 POSTs with 10 MB bodies, 50 that announce 10 MB and stall.
    const tenMb = new Uint8Array(10 * 1024 * 1024);
    for (let i = 0; i < 50; i++) {
      add("post-10mb", () =>
        fetch(`${base}/metrics`, { method: "POST", body: tenMb, signal: AbortSignal.timeout(10_000) }).then(
          (r) => r.status,
          () => 0,
        ),
      );
      add("post-10mb-stalled", () =>
        raw((s) => {
          s.write("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n");
          s.write(random(64 * 1024));
        }, 10_000),
      );
    }
    // 250 malformed requests of many kinds.
    const malformed = [
      "GET / HTTP/9.9\r\n\r\n",
      "HELLO\r\n\r\n",
      "GET /\u0000\u0001 HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nNo-Colon-Header\r\n\r\n",
      "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZZ\r\nxx\r\n",
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde",
      `GET /metrics HTTP/1.1\r\n${"X-H: v\r\n".repeat(5_000)}\r\n`,
      "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003", // a TLS ClientHello on the plain port
      "GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for (let i = 0; i < 250; i++) {
      const request = malformed[i % malformed.length]!;
      add("malformed", () => raw((s) => s.write(request), 5_000));
    }
    // 100 connections pipelining 200 scrapes each without reading the answers.
    for (let i = 0; i < 100; i++) {
      add("pipelined-unread", () =>
        raw((s) => {
          s.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200));
        }, 8_000),
      );
    }
    expect(tasks.length).toBe(1_000);

    // A scraper that checks /metrics all the time, and an RSS sampler.
    let attacking = true;
    const probes: { status: number; ms: number }[] = [];
    let peakKb = baselineKb;
    const prober = (async () => {
      while (attacking) {
        const r = await scrape();
        probes.push({ status: r.status, ms: r.ms });
        peakKb = Math.max(peakKb, rssKb(exporter.proc.pid));
        await Bun.sleep(250);
      }
    })();
    const started = performance.now();
    // Slowloris connections first so they are all open while the rest arrives.
    const order = tasks.map((_, i) => i);
    const slowIdx = order.filter((i) => kinds[i] === "slowloris");
    const restIdx = order.filter((i) => kinds[i] !== "slowloris");
    const outcomes: Outcome[] = new Array(tasks.length);
    const slowDone = Promise.all(slowIdx.map(async (i) => (outcomes[i] = await tasks[i]!())));
    await pool(
      restIdx.map((i) => async () => (outcomes[i] = await tasks[i]!())),
      100,
    );
    await slowDone;
    attacking = false;
    await prober;
    const attackMs = performance.now() - started;

    // What the hostile clients got back: an HTTP status, "none" (closed without an answer) for raw ones.
    const summary: Record<string, Record<string, number>> = {};
    outcomes.forEach((o, i) => {
      const status = typeof o === "number" ? String(o || "none") : (/^HTTP\/1\.1 (\d{3})/.exec(o.head)?.[1] ?? "none");
      const k = kinds[i]!;
      summary[k] ??= {};
      summary[k]![status] = (summary[k]![status] ?? 0) + 1;
    });
    console.log("hostile outcomes by kind and status:", JSON.stringify(summary));
    for (const [kind, statuses] of Object.entries(summary)) {
      // Nothing malformed got an exposition; only the well-formed pipelined scrapes may.
      if (kind !== "pipelined-unread") expect({ kind, ok: statuses["200"] ?? 0 }).toEqual({ kind, ok: 0 });
    }
    expect(exporter.proc.exitCode).toBeNull();
    // /metrics answered every probe during the attack, promptly.
    expect(probes.length).toBeGreaterThan(10);
    expect(probes.filter((p) => p.status !== 200)).toEqual([]);
    const slowest = Math.max(...probes.map((p) => p.ms));
    expect(slowest).toBeLessThan(2_000);
    // Collection went on: newer data than before the attack.
    const after = parseExposition((await scrape()).text);
    expect(
      value(after, "kafka_lag_exporter_last_update_timestamp_seconds", { cluster_name: "secure" })!,
    ).toBeGreaterThan(updatedBefore + attackMs / 1000 - 5);
    expect(value(after, "kafka_consumergroup_group_sum_lag", { cluster_name: "secure", group })).toBe(100);

    // RSS comes back near its baseline once the connections are gone.
    let afterKb = rssKb(exporter.proc.pid);
    const deadline = Date.now() + 30_000;
    while (afterKb > baselineKb + 40 * 1024 && Date.now() < deadline) {
      await scrape();
      await Bun.sleep(1_000);
      afterKb = rssKb(exporter.proc.pid);
    }
    console.log(
      `hostile: ${tasks.length} requests in ${(attackMs / 1000).toFixed(1)} s; ` +
        `/metrics probes ${probes.length}, slowest ${slowest.toFixed(0)} ms; ` +
        `RSS baseline ${(baselineKb / 1024).toFixed(1)} MiB, peak ${(peakKb / 1024).toFixed(1)} MiB, ` +
        `after ${(afterKb / 1024).toFixed(1)} MiB`,
    );
    expect(afterKb).toBeLessThan(baselineKb + 40 * 1024);
  }, 150_000);

  test("a fake broker that breaks connections mid-response is reported down; the daemon and the other cluster are fine", async () => {
    const samples = parseExposition((await scrape()).text);
    expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "fake" })).toBe(0);
    expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(1);
    expect(value(samples, "kafka_lag_exporter_up")).toBe(1);
    // Every kind of misbehaviour was met several times.
    const met = Object.fromEntries(BEHAVIOURS.map((b) => [b, fakeStats.behaviours.get(b) ?? 0]));
    console.log(`fake broker: ${fakeStats.connections} connections`, met);
    expect(Math.min(...Object.values(met))).toBeGreaterThanOrEqual(3);
    const ready = await fetch(`${base}/ready`);
    const reason = await ready.text();
    expect(ready.status).toBe(503);
    expect(reason).toContain("cluster fake");
    expect(reason).not.toContain("cluster secure");
    expect((await fetch(`${base}/health`)).status).toBe(200);
    // It shuts down cleanly after all that.
    expect(await exporter.stop()).toBe(0);
    const stderr = exporter.stderr();
    expect(stderr).toMatch(/collection cycle failed.*cluster=fake/);
    expect(stderr).not.toMatch(/uncaught|unhandled|panic|segmentation/i);
  }, 60_000);
});
