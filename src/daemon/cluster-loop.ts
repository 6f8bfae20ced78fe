/**
 * One cluster's collection loop: every poll interval, collect → compute → write the cluster's
 * gauge store → publish. Never throws: a failed cycle becomes self metrics and a status, the
 * last good data stays published until it is older than the staleness threshold.
 */

import type { ClusterConfig, ExporterConfig } from "../config/types.ts";
import { createNameFilter, type NameFilter } from "../core/filters.ts";
import { cycleLagSteps } from "../core/lag.ts";
import { TIME_LAG_GAPS, type TimeLagGap } from "../core/time-lag.ts";
import type {
  ClusterMetadata,
  CommittedOffset,
  CycleObservation,
  FailureReason,
  GroupDescription,
  GroupObservation,
  ListedGroup,
  Outcome,
  TimeLagValue,
  TopicPartition,
  Watermarks,
} from "../core/types.ts";
import { FAILURE_REASONS, partitionKey } from "../core/types.ts";
import { errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { runSliced } from "../lib/slice.ts";
import { M } from "../metrics/catalog.ts";
import { lagSampleSteps } from "../metrics/samples.ts";
import { createGaugeStore, type GaugeStore } from "../metrics/store.ts";

/** What the loop needs from Kafka (implemented by src/kafka/client.ts). */
export interface LagSource {
  metadata(opts: { refresh?: boolean }): Promise<Outcome<ClusterMetadata>>;
  listGroups(): Promise<{
    groups: Outcome<ListedGroup[]>;
    failedBrokers: number;
    /** Groups known from earlier listings of the brokers that failed now. */
    missing?: readonly { groupId: string; reason: FailureReason }[];
  }>;
  describeGroups(groups: readonly ListedGroup[]): Promise<Map<string, Outcome<GroupDescription>>>;
  fetchCommittedOffsets(groupIds: readonly string[]): Promise<Map<string, Outcome<CommittedOffset[]>>>;
  fetchWatermarks(
    partitions: readonly TopicPartition[],
    opts: { lastStable: boolean },
  ): Promise<{
    watermarks: Map<string, Watermarks>;
    failed: { topic: string; partition: number; reason: FailureReason }[];
  }>;
  requestStats(): readonly { api: string; requests: number; errors: number }[];
  close(): Promise<void>;
}

export interface TimeLagStageResult {
  timeLag: Map<string, TimeLagValue>;
  compaction: Map<string, boolean>;
  methodCounts: Record<string, number>;
  /** Partitions without a value, by reason. */
  gaps?: Partial<Record<TimeLagGap, number>>;
}

/** The optional time-lag stage (rate / message / hybrid). */
export interface TimeLagPort {
  run(input: {
    nowMs: number;
    metadata: ClusterMetadata;
    watermarks: Map<string, Watermarks>;
    committed: { group: string; topic: string; partition: number; offset: number }[];
  }): Promise<TimeLagStageResult>;
}

export interface Clock {
  nowMs(): number;
}

export interface ClusterLoopOptions {
  cluster: ClusterConfig;
  exporter: ExporterConfig;
  source: LagSource;
  timeLag?: TimeLagPort;
  logger: Logger;
  clock: Clock;
  /** Called with the cluster's stores after every cycle; `data` null = withdraw (stale). */
  publish(clusterName: string, data: GaugeStore | null, self: GaugeStore): void;
}

export interface ClusterStatus {
  name: string;
  up: boolean;
  stale: boolean;
  lastSuccessMs: number | undefined;
  lastAttemptMs: number | undefined;
  lastError: string | undefined;
  lastCycleMs: number | undefined;
  series: number;
  groups: number;
  cycles: number;
  /** Start time of a cycle in progress, for liveness. */
  cycleStartedMs: number | undefined;
}

export interface CycleReport {
  ok: boolean;
  error?: string;
  durationMs: number;
  groups: number;
  partitions: number;
}

export interface ClusterLoop {
  readonly name: string;
  start(): void;
  /** Stops scheduling, waits (bounded) for an in-flight cycle, closes the Kafka client. */
  stop(): Promise<void>;
  runCycle(): Promise<CycleReport>;
  status(): ClusterStatus;
  /** Re-evaluates staleness (called by the daemon between cycles); true when it withdrew the data. */
  checkStaleness(): boolean;
}

const FILTER_REFRESH_CYCLES = 100;
/** Clusters with at least this many series run a full GC after each cycle (tens of ms; bounds RSS). */
const GC_MIN_SERIES = 10_000;
/** … or with at least this many monitored partitions (so the first, largest cycle collects too). */
const GC_MIN_PARTITIONS = 2_000;

/**
 * A full, synchronous GC after pending I/O had its turn. It pauses this thread only: scrapes are
 * served by the HTTP thread, which has its own heap (src/http/serve-worker.ts).
 */
function collectGarbage(): Promise<void> {
  return new Promise((resolve) =>
    setImmediate(() => {
      Bun.gc(true);
      resolve();
    }),
  );
}

const PHASES = ["metadata", "list_groups", "describe_offsets", "watermarks", "time_lag", "compute"] as const;
type Phase = (typeof PHASES)[number];

export function createClusterLoop(opts: ClusterLoopOptions): ClusterLoop {
  const { cluster, exporter, source, logger, clock } = opts;
  const name = cluster.name;
  // The filters cache a verdict per name; rebuilt every FILTER_REFRESH_CYCLES cycles so the names
  // of deleted groups and topics do not pile up (the cache only empties itself at 100k names).
  let groupFilter = createNameFilter(cluster.groupWhitelist, cluster.groupBlacklist);
  let topicFilter = createNameFilter(cluster.topicWhitelist, cluster.topicBlacklist);
  const storeOpts = {
    extraLabels: cluster.labels,
    gracePeriodMs: exporter.seriesGracePeriodMs,
    maxSeries: exporter.maxSeries,
  };
  let data = createGaugeStore(storeOpts);
  const self = createGaugeStore({ extraLabels: cluster.labels });
  let dataPublished = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let inFlight: Promise<CycleReport> | undefined;
  const status: ClusterStatus = {
    name,
    up: false,
    stale: true,
    lastSuccessMs: undefined,
    lastAttemptMs: undefined,
    lastError: undefined,
    lastCycleMs: undefined,
    series: 0,
    groups: 0,
    cycles: 0,
    cycleStartedMs: undefined,
  };

  async function runCycle(): Promise<CycleReport> {
    if (inFlight) return inFlight;
    inFlight = cycle().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  async function cycle(): Promise<CycleReport> {
    if (status.cycles > 0 && status.cycles % FILTER_REFRESH_CYCLES === 0) {
      groupFilter = createNameFilter(cluster.groupWhitelist, cluster.groupBlacklist);
      topicFilter = createNameFilter(cluster.topicWhitelist, cluster.topicBlacklist);
    }
    const started = clock.nowMs();
    status.cycleStartedMs = started;
    status.lastAttemptMs = started;
    const phaseMs = new Map<Phase, number>();
    let report: CycleReport;
    try {
      const collected = await collect(phaseMs, started);
      const t = clock.nowMs();
      // Sliced: thousands of groups and 100k series would otherwise hold the event loop (and
      // every scrape waiting on it) for tens of ms at a time. Scrapes are served the previous
      // rendering until the publish below.
      const lag = await runSliced(cycleLagSteps(collected.observation, topicFilter));
      const next = data;
      next.beginCycle(collected.observation.nowMs);
      await runSliced(lagSampleSteps(next, lag, { clusterName: name, granularity: exporter.granularity }));
      const storeReport = await runSliced(next.endCycleSteps());
      await runSliced(next.prepareRender());
      phaseMs.set("compute", clock.nowMs() - t);
      status.up = true;
      status.stale = false;
      status.lastSuccessMs = clock.nowMs();
      status.lastError = collected.warning;
      status.series = storeReport.series;
      status.groups = lag.groups.length;
      dataPublished = true;
      report = {
        ok: true,
        durationMs: clock.nowMs() - started,
        groups: lag.groups.length,
        partitions: lag.groups.reduce((n, g) => n + g.partitions.length, 0),
      };
      writeSelf(report, phaseMs, {
        skipped: mergeCounts(lag.skippedPartitions, collected.skipped),
        failedGroups: mergeCounts(lag.failedGroups, collected.failedGroups),
        dropped: storeReport.dropped,
        stale: storeReport.stale,
        methods: collected.methods,
        gaps: collected.gaps,
      });
      logger.clearOnce(`${name}:cycle`);
      logger.debug("cycle done", {
        cluster: name,
        ms: report.durationMs,
        groups: report.groups,
        series: storeReport.series,
      });
    } catch (error) {
      const message = errorMessage(error);
      status.up = false;
      status.lastError = message;
      report = { ok: false, error: message, durationMs: clock.nowMs() - started, groups: 0, partitions: 0 };
      logger.once(`${name}:cycle:${message}`, "warn", "collection cycle failed; keeping last good data until stale", {
        cluster: name,
        error: message,
      });
      writeSelf(report, phaseMs, {
        skipped: new Map(),
        failedGroups: new Map(),
        dropped: 0,
        stale: 0,
        methods: undefined,
        gaps: undefined,
      });
    }
    status.cycles++;
    status.lastCycleMs = report.durationMs;
    status.cycleStartedMs = undefined;
    // Rendered once per cycle: the stores are published here and nowhere else (but for staleness).
    if (!checkStaleness()) opts.publish(name, dataPublished ? data : null, self);
    // A large cluster's cycle leaves tens of MB of garbage (Kafka responses, label arrays, the
    // previous rendering); JSC would let the heap grow to several times the live set between
    // collections, so RSS climbs with every back-to-back cycle. One full GC per cycle bounds it.
    if (status.series >= GC_MIN_SERIES) await collectGarbage();
    return report;
  }

  /** Runs the Kafka phases; throws only when the cycle cannot produce anything at all. */
  async function collect(phaseMs: Map<Phase, number>, started: number) {
    const skipped = new Map<FailureReason, number>();
    const failedGroups = new Map<FailureReason, number>();
    let warning: string | undefined;

    let t = clock.nowMs();
    let md = await source.metadata({});
    if (md.kind === "error") throw new Error(`metadata: ${md.message}`);
    phaseMs.set("metadata", clock.nowMs() - t);

    t = clock.nowMs();
    const listed = await source.listGroups();
    if (listed.groups.kind === "error") throw new Error(`list groups: ${listed.groups.message}`);
    if (listed.failedBrokers > 0) {
      warning = `ListGroups failed on ${listed.failedBrokers} broker(s); their groups are missing this cycle`;
      logger.once(`${name}:listgroups-partial`, "warn", warning, { cluster: name });
    }
    // The client lists consumer groups only: protocol type "consumer" (classic and KIP-848) and ""
    // (groups that only commit offsets, e.g. Spark or admin tools), never connect/share/streams.
    const groups = listed.groups.value.filter((g) => groupFilter(g.groupId));
    // Groups whose coordinator could not list them this cycle: absent, and counted as such.
    for (const m of listed.missing ?? []) if (groupFilter(m.groupId)) bump(failedGroups, m.reason);
    phaseMs.set("list_groups", clock.nowMs() - t);

    t = clock.nowMs();
    const ids = groups.map((g) => g.groupId);
    const [descriptions, offsets] = await Promise.all([
      source.describeGroups(groups),
      source.fetchCommittedOffsets(ids),
    ]);
    phaseMs.set("describe_offsets", clock.nowMs() - t);

    const observations: GroupObservation[] = ids.map((groupId) => ({
      groupId,
      description: descriptions.get(groupId) ?? missing("describe_failed", groupId),
      offsets: offsets.get(groupId) ?? missing("offset_fetch_failed", groupId),
    }));
    for (const o of observations) {
      for (const outcome of [o.description, o.offsets]) {
        if (outcome.kind === "error") {
          logger.once(`${name}:group:${o.groupId}:${outcome.reason}`, "warn", "group partly unavailable this cycle", {
            cluster: name,
            group: o.groupId,
            reason: outcome.reason,
            error: outcome.message,
          });
        }
      }
    }

    // A committed partition unknown to the cached metadata (new topic or partition) forces a
    // refresh, so it is measured this cycle instead of reading as lag 0 or going missing.
    t = clock.nowMs();
    if (hasUnknownPartition(md.value, observations, topicFilter)) {
      const refreshed = await source.metadata({ refresh: true });
      if (refreshed.kind === "ok") md = refreshed;
    }
    const partitions = monitoredPartitions(md.value, topicFilter);
    const large = status.series >= GC_MIN_SERIES || partitions.length >= GC_MIN_PARTITIONS;
    const wm = await source.fetchWatermarks(partitions, { lastStable: true });
    const watermarkFailures = new Map<string, FailureReason>();
    for (const f of wm.failed) watermarkFailures.set(partitionKey(f.topic, f.partition), f.reason);
    phaseMs.set("watermarks", clock.nowMs() - t);
    if (large) await collectGarbage();

    const observation: CycleObservation = {
      nowMs: clock.nowMs(),
      watermarks: wm.watermarks,
      watermarkFailures,
      groups: observations,
    };
    let methods: Record<string, number> | undefined;
    let gaps: Partial<Record<TimeLagGap, number>> | undefined;
    if (opts.timeLag) {
      t = clock.nowMs();
      const committed = [];
      for (const o of observations) {
        if (o.offsets.kind !== "ok") continue;
        for (const c of o.offsets.value) if (topicFilter(c.topic)) committed.push({ group: o.groupId, ...c });
      }
      try {
        const tl = await opts.timeLag.run({
          nowMs: observation.nowMs,
          metadata: md.value,
          watermarks: wm.watermarks,
          committed,
        });
        observation.timeLag = tl.timeLag;
        observation.compaction = tl.compaction;
        methods = tl.methodCounts;
        gaps = tl.gaps ?? {};
      } catch (error) {
        // Time lag is an enrichment: its failure leaves lag_seconds absent, never blanks offsets.
        logger.once(`${name}:timelag:${errorMessage(error)}`, "warn", "time lag stage failed", {
          cluster: name,
          error: errorMessage(error),
        });
      }
      phaseMs.set("time_lag", clock.nowMs() - t);
      if (large) await collectGarbage();
    }
    void started;
    return { observation, skipped, failedGroups, warning, methods, gaps };
  }

  function writeSelf(
    report: CycleReport,
    phaseMs: Map<Phase, number>,
    extra: {
      skipped: Map<FailureReason, number>;
      failedGroups: Map<FailureReason, number>;
      dropped: number;
      stale: number;
      methods: Record<string, number> | undefined;
      gaps: Partial<Record<TimeLagGap, number>> | undefined;
    },
  ): void {
    self.beginCycle(clock.nowMs());
    self.set(M.clusterUp, [name], report.ok ? 1 : 0);
    self.set(M.pollTimeMs, [name], report.durationMs);
    self.set(M.scrapeDuration, [name], report.durationMs / 1000);
    if (status.lastSuccessMs !== undefined) self.set(M.lastUpdate, [name], status.lastSuccessMs / 1000);
    for (const [phase, ms] of phaseMs) self.set(M.cycleDuration, [name, phase], ms / 1000);
    for (const s of source.requestStats()) {
      self.set(M.kafkaRequests, [name, s.api], s.requests);
      self.set(M.kafkaRequestErrors, [name, s.api], s.errors);
    }
    // Every reason is always present (0 when nothing failed) so alerts see a value, not absence.
    for (const reason of FAILURE_REASONS) {
      self.set(M.skippedPartitions, [name, reason], extra.skipped.get(reason) ?? 0);
      self.set(M.failedGroups, [name, reason], extra.failedGroups.get(reason) ?? 0);
    }
    self.set(M.series, [name], status.series);
    self.set(M.seriesDropped, [name], extra.dropped);
    self.set(M.staleSeries, [name], extra.stale);
    for (const [method, n] of Object.entries(extra.methods ?? {})) self.set(M.timeLagMethod, [name, method], n);
    // Every reason present (0 when none) while time lag runs, so an alert sees a value, not absence.
    if (extra.gaps)
      for (const reason of TIME_LAG_GAPS) self.set(M.timeLagGaps, [name, reason], extra.gaps[reason] ?? 0);
    self.endCycle();
  }

  /** Marks the cluster stale when its last success is too old; publishes only when that withdraws data. */
  function checkStaleness(): boolean {
    const now = clock.nowMs();
    const stale = status.lastSuccessMs === undefined || now - status.lastSuccessMs > exporter.stalenessThresholdMs;
    status.stale = stale;
    if (!stale || !dataPublished) return false;
    logger.warn("cluster data is stale; withdrawing its series", { cluster: name });
    dataPublished = false;
    // A fresh store: stale series must not come back with old values on recovery.
    data = createGaugeStore(storeOpts);
    opts.publish(name, null, self);
    return true;
  }

  function schedule(delayMs: number): void {
    if (!running) return;
    timer = setTimeout(async () => {
      const startedAt = clock.nowMs();
      await runCycle();
      const elapsed = clock.nowMs() - startedAt;
      // Start-to-start cadence; an overrunning cycle is followed at once by the next, never overlapped.
      schedule(Math.max(0, exporter.pollIntervalMs - elapsed));
    }, delayMs);
  }

  return {
    name,
    start() {
      if (running) return;
      running = true;
      schedule(0);
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      // One shared 2 s budget for the in-flight cycle and the close: shutdown must end within 5 s.
      const budget = Bun.sleep(2000);
      if (inFlight) await Promise.race([inFlight, budget]);
      await Promise.race([source.close().catch(() => {}), budget]);
    },
    runCycle,
    status: () => ({ ...status }),
    checkStaleness,
  };
}

function missing(reason: FailureReason, groupId: string): Outcome<never> {
  return { kind: "error", reason, message: `no result for group ${groupId}` };
}

function hasUnknownPartition(md: ClusterMetadata, groups: GroupObservation[], topicFilter: NameFilter): boolean {
  for (const g of groups) {
    if (g.offsets.kind !== "ok") continue;
    for (const c of g.offsets.value) {
      if (!topicFilter(c.topic)) continue;
      const parts = md.topics.get(c.topic);
      if (!parts?.some((p) => p.partition === c.partition)) return true;
    }
  }
  return false;
}

function monitoredPartitions(md: ClusterMetadata, topicFilter: NameFilter): TopicPartition[] {
  const out: TopicPartition[] = [];
  for (const [topic, parts] of md.topics) {
    if (!topicFilter(topic)) continue;
    for (const p of parts) out.push({ topic, partition: p.partition });
  }
  return out;
}

function mergeCounts(a: Map<FailureReason, number>, b: Map<FailureReason, number>): Map<FailureReason, number> {
  const out = new Map(a);
  for (const [k, v] of b) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}

function bump(map: Map<FailureReason, number>, key: FailureReason): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
