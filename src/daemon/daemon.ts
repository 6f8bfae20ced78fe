/**
 * The composition root: one loop per cluster, the exposition they publish into, the process
 * self metrics, the HTTP server and config reload. Owns every lifecycle; the CLI calls it.
 */
import type { ClusterConfig, Config } from "../config/types.ts";
import type { ClusterStatusView } from "../http/status-page.ts";
import { type HttpWorker, startHttpWorker } from "../http/worker-host.ts";
import type { HttpState } from "../http/worker-protocol.ts";
import { BUILD } from "../lib/build-info.ts";
import type { Logger } from "../lib/log.ts";
import { M } from "../metrics/catalog.ts";
import { createExposition, type Exposition } from "../metrics/exposition.ts";
import { createGaugeStore, type GaugeStore } from "../metrics/store.ts";
import type { OtlpBridge } from "../otlp/bridge.ts";
import { type Clock, type ClusterLoop, createClusterLoop } from "./cluster-loop.ts";
import { createKafkaSource } from "./kafka-source.ts";

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
}

export interface Daemon {
  /** Starts the HTTP server and every cluster loop. */
  start(): Promise<void>;
  /** Applies a new, already validated config: clusters added, removed or changed are restarted; others untouched. */
  reload(config: Config): Promise<void>;
  /** Stops serving (after in-flight requests), stops loops, closes Kafka clients. */
  stop(): Promise<void>;
  /** Runs one cycle on every cluster and returns the exposition text and whether all succeeded. */
  once(): Promise<{ text: string; ok: boolean; failed: string[] }>;
  exposition: Exposition;
  url(): string | undefined;
}

const systemClock: Clock = { nowMs: () => Date.now() };

export function createDaemon(opts: DaemonOptions): Daemon {
  let config = opts.config;
  const { logger } = opts;
  const clock = opts.clock ?? systemClock;
  // Assembled into shared memory: the HTTP thread serves the same bytes without a copy.
  const exposition = createExposition({
    shared: true,
    onAssemble: (snapshot) => server?.publish(snapshot, httpState()),
  });
  const loops = new Map<string, { loop: ClusterLoop; cluster: ClusterConfig }>();
  let server: HttpWorker | undefined;
  let livenessTimer: ReturnType<typeof setInterval> | undefined;
  const startedMs = clock.nowMs();

  /** What is published right now, by source id: the OTLP bridge exports exactly this. */
  const published = new Map<string, GaugeStore>();
  function publish(sourceId: string, store: GaugeStore | null): void {
    if (store) published.set(sourceId, store);
    else published.delete(sourceId);
    exposition.publish(sourceId, store);
  }

  let otlp: OtlpBridge | undefined;
  /** Totals of bridges replaced by a reload, so the exported counters never go backwards. */
  const otlpBefore = { ok: 0, failed: 0 };
  /** Bumped by every start and stop, so an import that finishes late cannot start a stale bridge. */
  let otlpGeneration = 0;
  /**
   * The OpenTelemetry SDK and gRPC stack load only when OTLP is enabled: with it off (the
   * default) they are never evaluated, which keeps ~6 MB of code and heap out of the process.
   */
  async function startOtlp(): Promise<void> {
    const generation = ++otlpGeneration;
    if (!config.exporter.otel.enabled) return;
    const { createOtlpBridge } = await import("../otlp/bridge.ts");
    if (generation !== otlpGeneration) return;
    otlp = createOtlpBridge({
      config: config.exporter.otel,
      version: BUILD.version,
      logger,
      sources: () => published.values(),
      maxSeries: config.exporter.maxSeries,
    });
    otlp.start();
  }

  const processStore = createGaugeStore();
  let lastOtlpStats = "";
  /** Republishes process metrics when they changed (re-assembling a large exposition is not free). */
  function refreshProcess(): void {
    const stats = otlp ? JSON.stringify(otlp.stats()) : "";
    if (stats !== lastOtlpStats) publishProcess();
  }
  function publishProcess(): void {
    processStore.beginCycle(clock.nowMs());
    processStore.set(M.up, [], 1);
    processStore.set(M.buildInfo, [BUILD.version, BUILD.runtime], 1);
    if (otlp) {
      const s = otlp.stats();
      lastOtlpStats = JSON.stringify(s);
      processStore.set(M.otlpExports, ["ok"], otlpBefore.ok + s.ok);
      processStore.set(M.otlpExports, ["failed"], otlpBefore.failed + s.failed);
    }
    processStore.endCycle();
    publish("~process", processStore);
  }

  function makeLoop(cluster: ClusterConfig): ClusterLoop {
    const source = createKafkaSource({
      cluster,
      exporter: config.exporter,
      logger: logger.child({ cluster: cluster.name }),
    });
    return createClusterLoop({
      cluster,
      exporter: config.exporter,
      source: source.lagSource,
      timeLag: source.timeLag,
      logger,
      clock,
      publish(name, data, self) {
        publish(`${name}/data`, data);
        publish(`${name}/self`, self);
      },
    });
  }

  function addCluster(cluster: ClusterConfig, start: boolean): void {
    const loop = makeLoop(cluster);
    loops.set(cluster.name, { loop, cluster });
    if (start) loop.start();
  }

  async function removeCluster(name: string): Promise<void> {
    const entry = loops.get(name);
    if (!entry) return;
    loops.delete(name);
    await entry.loop.stop();
    publish(`${name}/data`, null);
    publish(`${name}/self`, null);
  }

  function clusterViews(): ClusterStatusView[] {
    return [...loops.values()].map(({ loop }) => {
      const s = loop.status();
      return {
        name: s.name,
        up: s.up,
        stale: s.stale,
        lastSuccessMs: s.lastSuccessMs,
        lastError: s.lastError,
        lastCycleMs: s.lastCycleMs,
        series: s.series,
        groups: s.groups,
      };
    });
  }

  function health(): HttpState["health"] {
    // Liveness only: a Kafka outage is not a reason to restart us. A cycle stuck far past every
    // timeout is (it means a bug or a wedged event loop dependency).
    const now = clock.nowMs();
    const limit = 10 * Math.max(config.exporter.pollIntervalMs, config.exporter.performance.kafkaTimeoutMs, 30_000);
    for (const { loop } of loops.values()) {
      const s = loop.status();
      if (s.cycleStartedMs !== undefined && now - s.cycleStartedMs > limit) {
        return {
          ok: false,
          reason: `cluster ${s.name}: a collection cycle has been running for ${((now - s.cycleStartedMs) / 1000).toFixed(0)} s`,
        };
      }
    }
    return { ok: true, reason: "OK" };
  }

  function readiness(): HttpState["readiness"] {
    const problems: string[] = [];
    for (const { loop } of loops.values()) {
      const s = loop.status();
      if (s.lastSuccessMs === undefined)
        problems.push(`cluster ${s.name}: no successful collection yet${s.lastError ? ` (${s.lastError})` : ""}`);
      else if (s.stale)
        problems.push(
          `cluster ${s.name}: data is stale (last success ${((clock.nowMs() - s.lastSuccessMs) / 1000).toFixed(0)} s ago${s.lastError ? `; ${s.lastError}` : ""})`,
        );
    }
    return problems.length === 0 ? { ready: true, reason: "OK" } : { ready: false, reason: problems.join("\n") };
  }

  /** What the HTTP thread answers besides /metrics; sent with every exposition and every liveness tick. */
  function httpState(): HttpState {
    return {
      health: health(),
      readiness: readiness(),
      isLeader: true,
      status: { version: BUILD.version, nowMs: clock.nowMs(), isLeader: true, clusters: clusterViews() },
    };
  }

  /** The liveness tick: often enough for /ready and the status page, and to show the HTTP thread we are alive. */
  const tickMs = () => Math.min(5_000, config.exporter.pollIntervalMs);

  return {
    exposition,
    url: () => server?.url,
    async start() {
      if (config.exporter.leadership.enabled) {
        // Said loudly rather than silently ignored: every replica collects and serves.
        logger.warn(
          "exporter.leadership.enabled is set, but Kubernetes lease election is not implemented in this version: this instance collects and reports is_leader=true; run one replica",
        );
      }
      publishProcess();
      for (const cluster of config.clusters) addCluster(cluster, false);
      server = await startHttpWorker({
        host: config.exporter.httpHost,
        port: config.exporter.httpPort,
        http: config.exporter.http,
        // Far beyond any tick: only a thread that stopped running (a bug) gets here.
        silenceLimitMs: Math.max(60_000, 12 * tickMs()),
        state: httpState,
        exposition: () => exposition.snapshot(),
        logger,
      });
      logger.info("listening", {
        url: server.url,
        clusters: config.clusters.map((c) => c.name),
        startup_ms: clock.nowMs() - startedMs,
      });
      for (const { loop } of loops.values()) loop.start();
      await startOtlp();
      // Staleness is re-evaluated even when a loop is blocked waiting on Kafka.
      livenessTimer = setInterval(() => {
        for (const { loop } of loops.values()) loop.checkStaleness();
        refreshProcess();
        server?.setState(httpState());
      }, tickMs());
    },
    async reload(next) {
      const before = new Map([...loops.entries()].map(([k, v]) => [k, v.cluster]));
      const exporterChanged = JSON.stringify(next.exporter) !== JSON.stringify(config.exporter);
      config = next;
      const wanted = new Map(next.clusters.map((c) => [c.name, c]));
      for (const [name, old] of before) {
        const now = wanted.get(name);
        if (!now || exporterChanged || JSON.stringify(now) !== JSON.stringify(old)) await removeCluster(name);
      }
      for (const [name, cluster] of wanted) if (!loops.has(name)) addCluster(cluster, true);
      if (exporterChanged) {
        await otlp?.shutdown();
        if (otlp) {
          const s = otlp.stats();
          otlpBefore.ok += s.ok;
          otlpBefore.failed += s.failed;
        }
        otlp = undefined;
        await startOtlp();
        logger.info("exporter settings changed; HTTP listen address changes need a restart");
      }
      logger.info("configuration reloaded", { clusters: [...wanted.keys()] });
    },
    async stop() {
      if (livenessTimer) clearInterval(livenessTimer);
      await server?.stop();
      await Promise.all([...loops.keys()].map((name) => removeCluster(name)));
      otlpGeneration++;
      await otlp?.shutdown();
    },
    async once() {
      publishProcess();
      await startOtlp();
      for (const cluster of config.clusters) addCluster(cluster, false);
      const reports = await Promise.all(
        [...loops.values()].map(async ({ loop }) => ({ name: loop.name, report: await loop.runCycle() })),
      );
      const text = new TextDecoder().decode(exposition.current("prometheus", false));
      await Promise.all([...loops.keys()].map((name) => loops.get(name)!.loop.stop()));
      if (otlp) {
        await otlp.flush();
        await otlp.shutdown();
      }
      const failed = reports.filter((r) => !r.report.ok).map((r) => `${r.name}: ${r.report.error ?? "failed"}`);
      return { text, ok: failed.length === 0, failed };
    },
  };
}
