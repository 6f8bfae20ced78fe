/**
 * The daemon over real HTTP against the shared real Kafka: /metrics before and after the first
 * cycle (content type, gzip, OpenMetrics), /health, /ready, /leader, the status page, 404/405,
 * and a stalled client that blocks neither scrapes nor collection.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import type { Config } from "../../src/config/types.ts";
import { createDaemon, type Daemon } from "../../src/daemon/daemon.ts";
import { configFrom, find, parseExposition, quietLogger, value } from "../helpers/exposition.ts";
import {
  closeHarnessClients,
  commitOffsets,
  createTopic,
  eventually,
  kafka,
  kafkaConsumerGroups,
  produceN,
  uniqueName,
} from "../kafka/harness.ts";

const PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const p = uniqueName("http");
const topic = `${p}-t`;
const group = `${p}-g`;
let bootstrap: string;

beforeAll(async () => {
  bootstrap = (await kafka(1)).bootstrap.join(",");
  await createTopic(topic, 3);
  await produceN(topic, [0, 1, 2], 10);
  await commitOffsets(group, topic, [
    { partition: 0, offset: 2 },
    { partition: 1, offset: 5 },
  ]);
});

afterAll(async () => {
  await closeHarnessClients();
});

function daemonConfig(servers: string, pollInterval = "60s"): Config {
  const config = configFrom(`
[exporter]
poll_interval = "${pollInterval}"
granularity = "partition"
http_host = "127.0.0.1"
[exporter.timestamp_sampling]
enabled = false
[exporter.performance]
kafka_timeout = "10s"
[[clusters]]
name = "web"
bootstrap_servers = "${servers}"
group_whitelist = ["^${p}-"]
topic_whitelist = ["^${p}-"]
`);
  config.exporter.httpPort = 0; // the OS picks a free port; daemon.url() reports it
  return config;
}

async function withDaemon(config: Config, body: (url: string, daemon: Daemon) => Promise<void>): Promise<void> {
  const daemon = createDaemon({ config, logger: quietLogger() });
  await daemon.start();
  try {
    await body(daemon.url()!, daemon);
  } finally {
    await daemon.stop();
  }
}

/** Waits for the first successful cycle (the group's lag is in /metrics). */
async function firstCycle(url: string): Promise<void> {
  await eventually(
    async () => {
      const s = parseExposition(await (await fetch(`${url}metrics`)).text());
      return find(s, "kafka_consumergroup_group_lag", { group }).length === 2 ? true : undefined;
    },
    30_000,
    "the first cycle",
  );
}

/**
 * A TCP proxy to the broker that holds every connection until `release()`: the daemon's first
 * cycle cannot finish before the test says so, which makes "before the first cycle" observable.
 */
function gatedProxy(target: string): Promise<{ address: string; release(): void; close(): void }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
  let released = false;
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    client.pause();
    sockets.add(client);
    const pipe = () => {
      const upstream = tcpConnect(port, host, () => {
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      sockets.add(upstream);
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    };
    if (released) pipe();
    else held.push(pipe);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("proxy has no port");
      resolve({
        address: `127.0.0.1:${address.port}`,
        release() {
          released = true;
          for (const go of held.splice(0)) go();
        },
        close() {
          server.close();
          for (const s of sockets) s.destroy();
        },
      });
    });
  });
}

describe("HTTP endpoints of the running daemon", () => {
  test("before the first cycle /metrics is 200 with self metrics only and /ready is 503; after it /ready is 200", async () => {
    const proxy = await gatedProxy(bootstrap.split(",")[0]!);
    try {
      await withDaemon(daemonConfig(proxy.address), async (url) => {
        await Bun.sleep(300); // the loop has started and is waiting on the held connection
        const metrics = await fetch(`${url}metrics`);
        expect(metrics.status).toBe(200);
        expect(metrics.headers.get("content-type")).toBe(PROMETHEUS_TYPE);
        const before = parseExposition(await metrics.text());
        expect(value(before, "kafka_lag_exporter_up")).toBe(1);
        expect(find(before, "kafka_lag_exporter_build_info")).toHaveLength(1);
        // No Kafka data yet: nothing from the cluster but (possibly) its self metrics.
        expect(
          before.filter(
            (s) => /^kafka_(consumergroup|partition)_/.test(s.name) && s.name !== "kafka_consumergroup_poll_time_ms",
          ),
        ).toEqual([]);
        const notReady = await fetch(`${url}ready`);
        expect(notReady.status).toBe(503);
        expect(await notReady.text()).toStartWith("cluster web: no successful collection yet");
        // Liveness does not wait for Kafka.
        expect((await fetch(`${url}health`)).status).toBe(200);

        proxy.release();
        await firstCycle(url);
        const ready = await fetch(`${url}ready`);
        expect(ready.status).toBe(200);
        expect((await ready.text()).trim()).toBe("OK");
        const after = parseExposition(await (await fetch(`${url}metrics`)).text());
        // The scrape serves what Kafka itself says about the group.
        const truth = (await kafkaConsumerGroups(group)).filter((r) => r.currentOffset !== null);
        for (const r of truth) {
          expect(value(after, "kafka_consumergroup_group_lag", { group, topic, partition: String(r.partition) })).toBe(
            r.lag!,
          );
        }
        expect(value(after, "kafka_lag_exporter_cluster_up", { cluster_name: "web" })).toBe(1);
      });
    } finally {
      proxy.close();
    }
  });

  test("/metrics serves text 0.0.4, the same bytes gzipped when accepted, and OpenMetrics ending in # EOF when negotiated", async () => {
    await withDaemon(daemonConfig(bootstrap), async (url) => {
      await firstCycle(url);
      // Bun's fetch asks for gzip by default; a scraper that does not gets identity.
      const plain = await fetch(`${url}metrics`, { headers: { "Accept-Encoding": "identity" }, decompress: false });
      expect(plain.status).toBe(200);
      expect(plain.headers.get("content-type")).toBe(PROMETHEUS_TYPE);
      expect(plain.headers.get("content-encoding")).toBeNull();
      const plainText = await plain.text();
      expect(plainText).toContain("# TYPE kafka_consumergroup_group_lag gauge");

      const gz = await fetch(`${url}metrics`, { headers: { "Accept-Encoding": "gzip" }, decompress: false });
      expect(gz.status).toBe(200);
      expect(gz.headers.get("content-encoding")).toBe("gzip");
      expect(gz.headers.get("content-type")).toBe(PROMETHEUS_TYPE);
      const compressed = new Uint8Array(await gz.arrayBuffer());
      expect([compressed[0], compressed[1]]).toEqual([0x1f, 0x8b]);
      expect(new TextDecoder().decode(Bun.gunzipSync(compressed))).toBe(plainText);
      expect(compressed.length).toBeLessThan(Buffer.byteLength(plainText));

      // q=0 refuses gzip.
      const refused = await fetch(`${url}metrics`, { headers: { "Accept-Encoding": "gzip;q=0" }, decompress: false });
      expect(refused.headers.get("content-encoding")).toBeNull();
      expect(await refused.text()).toBe(plainText);

      const om = await fetch(`${url}metrics`, { headers: { Accept: "application/openmetrics-text; version=1.0.0" } });
      expect(om.status).toBe(200);
      expect(om.headers.get("content-type")).toBe(OPENMETRICS_TYPE);
      const omText = await om.text();
      expect(omText.endsWith("# EOF\n")).toBe(true);
      expect(omText.split("\n").filter((l) => l === "# EOF")).toHaveLength(1);
      // Same samples in both formats.
      const lagOf = (text: string) =>
        find(parseExposition(text.replace("# EOF\n", "")), "kafka_consumergroup_group_lag", { group })
          .map((s) => `${s.labels.partition}=${s.value}`)
          .sort();
      expect(lagOf(omText)).toEqual(lagOf(plainText));
      expect(lagOf(plainText)).toEqual(["0=8", "1=5"]);

      // Prometheus' own scrape Accept header (OpenMetrics preferred) gets OpenMetrics.
      const promAccept =
        "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
      expect((await fetch(`${url}metrics`, { headers: { Accept: promAccept } })).headers.get("content-type")).toBe(
        OPENMETRICS_TYPE,
      );
      // A plain text Accept stays on 0.0.4.
      expect((await fetch(`${url}metrics`, { headers: { Accept: "text/plain" } })).headers.get("content-type")).toBe(
        PROMETHEUS_TYPE,
      );
    });
  });

  test("/health, /leader and / answer; an unknown path is 404 and POST /metrics is 405", async () => {
    await withDaemon(daemonConfig(bootstrap), async (url) => {
      await firstCycle(url);
      const health = await fetch(`${url}health`);
      expect(health.status).toBe(200);
      expect((await health.text()).trim()).toBe("OK");

      const leader = await fetch(`${url}leader`);
      expect(leader.status).toBe(200);
      expect(leader.headers.get("content-type")).toStartWith("application/json");
      expect(await leader.json()).toEqual({ is_leader: true });

      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toStartWith("text/html");
      const html = await page.text();
      expect(html).toContain("<td>web</td>");
      expect(html).toContain("<td>up</td>");
      expect(html).toContain('href="/metrics"');

      const missing = await fetch(`${url}nope`);
      expect(missing.status).toBe(404);
      const post = await fetch(`${url}metrics`, { method: "POST", body: "x" });
      expect(post.status).toBe(405);
      expect(post.headers.get("allow")).toContain("GET");
      // HEAD is a GET without a body.
      const head = await fetch(`${url}metrics`, { method: "HEAD" });
      expect(head.status).toBe(200);
    });
  });

  test("stalled clients holding half a request line block neither scrapes nor collection", async () => {
    await withDaemon(daemonConfig(bootstrap, "1s"), async (url) => {
      await firstCycle(url);
      const { hostname, port } = new URL(url);
      // Twenty connections that send half a request line and then say nothing more.
      const stalled = await Promise.all(
        Array.from({ length: 20 }, () =>
          Bun.connect({ hostname, port: Number(port), socket: { data() {} } }).then((s) => {
            s.write("GET /metr");
            return s;
          }),
        ),
      );
      try {
        const lastUpdate = async () =>
          value(
            parseExposition(await (await fetch(`${url}metrics`)).text()),
            "kafka_lag_exporter_last_update_timestamp_seconds",
          )!;
        const first = await lastUpdate();
        const times: number[] = [];
        for (let i = 0; i < 20; i++) {
          const t = performance.now();
          const r = await fetch(`${url}metrics`, { signal: AbortSignal.timeout(2000) });
          expect(r.status).toBe(200);
          await r.arrayBuffer();
          times.push(performance.now() - t);
        }
        const parallel = await Promise.all(
          Array.from({ length: 10 }, async () => {
            const t = performance.now();
            await (await fetch(`${url}metrics`, { signal: AbortSignal.timeout(2000) })).arrayBuffer();
            return performance.now() - t;
          }),
        );
        expect(Math.max(...times, ...parallel)).toBeLessThan(1000);
        // Collection keeps its 1 s cadence meanwhile.
        await eventually(async () => ((await lastUpdate()) >= first + 1 ? true : undefined), 10_000, "another cycle");
      } finally {
        for (const s of stalled) s.end();
      }
    });
  });
});
