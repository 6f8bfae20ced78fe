/**
 * The HTTP server on its own thread (src/http/worker-host.ts): scrapes are answered while the
 * daemon's thread is busy, /health turns 503 when that thread stops reporting, and a port that
 * is taken is a clear start error. No Kafka needed: the cluster points at a closed port.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDaemon } from "../../src/daemon/daemon.ts";
import { startHttpWorker } from "../../src/http/worker-host.ts";
import type { HttpState } from "../../src/http/worker-protocol.ts";
import { M } from "../../src/metrics/catalog.ts";
import { createExposition } from "../../src/metrics/exposition.ts";
import { createGaugeStore } from "../../src/metrics/store.ts";
import { configFrom, quietLogger } from "../helpers/exposition.ts";

const dir = mkdtempSync(join(tmpdir(), "klag-http-thread-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function state(ok: boolean, reason = "OK"): HttpState {
  return {
    health: { ok, reason },
    readiness: { ready: ok, reason },
    isLeader: true,
    status: { version: "test", nowMs: Date.now(), isLeader: true, clusters: [] },
  };
}

/** An HTTP thread on 127.0.0.1 serving an empty exposition and a healthy state. */
function startWorker(port: number, silenceLimitMs: number) {
  const exposition = createExposition({ shared: true });
  return startHttpWorker({
    host: "127.0.0.1",
    port,
    silenceLimitMs,
    state: () => state(true),
    exposition: () => exposition.snapshot(),
    logger: quietLogger(),
  });
}

async function pollStatus(url: string, want: number, limitMs: number): Promise<Response> {
  const until = Date.now() + limitMs;
  for (;;) {
    const res = await fetch(url);
    if (res.status === want || Date.now() > until) return res;
    await Bun.sleep(50);
  }
}

describe("HTTP thread", () => {
  test("serves the state it was given; /health turns 503 naming the silent thread, and 200 again on the next state", async () => {
    const server = await startWorker(0, 300);
    try {
      expect((await fetch(`${server.url}ready`)).status).toBe(200);
      const silent = await pollStatus(`${server.url}health`, 503, 10_000);
      expect(silent.status).toBe(503);
      expect(await silent.text()).toMatch(/^the collector thread has not reported for \d+ s\n$/);
      server.setState(state(true));
      expect((await pollStatus(`${server.url}health`, 200, 10_000)).status).toBe(200);
      server.setState(state(false, "cluster a: no successful collection yet"));
      const ready = await pollStatus(`${server.url}ready`, 503, 10_000);
      expect(await ready.text()).toBe("cluster a: no successful collection yet\n");
    } finally {
      await server.stop();
    }
  });

  test("a thread that dies is started again on the same port with the latest exposition and state", async () => {
    const exposition = createExposition({ shared: true });
    const store = createGaugeStore();
    store.set(M.up, [], 1);
    exposition.publish("~process", store);
    const threads: Worker[] = [];
    let current = state(false, "cluster a: no successful collection yet");
    const server = await startHttpWorker({
      host: "127.0.0.1",
      port: 0,
      silenceLimitMs: 60_000,
      state: () => current,
      exposition: () => exposition.snapshot(),
      logger: quietLogger(),
      onThread: (t) => threads.push(t),
    });
    try {
      expect((await fetch(`${server.url}ready`)).status).toBe(503);
      current = state(true);
      threads[0]!.terminate();
      // Refused while no thread listens, then served again by the new one.
      const until = Date.now() + 20_000;
      let ready: Response | undefined;
      while (Date.now() < until) {
        ready = await fetch(`${server.url}ready`).catch(() => undefined);
        if (ready?.status === 200) break;
        await Bun.sleep(50);
      }
      expect(ready?.status).toBe(200);
      expect(threads.length).toBe(2);
      expect(await (await fetch(`${server.url}metrics`)).text()).toContain("\nkafka_lag_exporter_up 1\n");
    } finally {
      await server.stop();
    }
  });

  test("a port already in use is a start error that says so", async () => {
    const first = await startWorker(0, 60_000);
    try {
      const port = Number(new URL(first.url).port);
      const second = startWorker(port, 60_000);
      await expect(second).rejects.toThrow(new RegExp(`${port}|in use`, "i"));
    } finally {
      await first.stop();
    }
  });

  test("the daemon answers /metrics while its own thread is blocked", async () => {
    const config = configFrom(`
[exporter]
poll_interval = "60s"
http_host = "127.0.0.1"
[[clusters]]
name = "closed"
bootstrap_servers = "127.0.0.1:1"
`);
    config.exporter.httpPort = 0;
    const daemon = createDaemon({ config, logger: quietLogger() });
    await daemon.start();
    try {
      const out = join(dir, "scrape.txt");
      const scraper = Bun.spawn(
        [
          process.execPath,
          "-e",
          `const r = await fetch(${JSON.stringify(`${daemon.url()}metrics`)}); await Bun.write(${JSON.stringify(out)}, r.status + "\\n" + (await r.text()));`,
        ],
        { stdout: "ignore", stderr: "inherit" },
      );
      // Block this (the daemon's) thread until the scrape's answer is on disk, or give up after 20 s.
      const until = performance.now() + 20_000;
      let answered = false;
      while (!answered && performance.now() < until) {
        try {
          answered = statSync(out).size > 0;
        } catch {
          answered = false;
        }
      }
      await scraper.exited;
      expect(answered).toBe(true);
      const body = await Bun.file(out).text();
      expect(body.startsWith("200\n")).toBe(true);
      expect(body).toContain("\nkafka_lag_exporter_up 1\n");
    } finally {
      await daemon.stop();
    }
  });
});
