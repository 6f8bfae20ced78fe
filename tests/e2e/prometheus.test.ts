/**
 * The Grafana dashboard and the alert rules against a real Prometheus (Debian's server binary)
 * scraping the release binary on loopback. The scenario makes every signal real: a group lagging
 * on old records (lag, time lag, near retention) and still falling behind, a group whose records
 * were deleted before it read them (data loss), an unreachable cluster and an unreachable
 * exporter target. Every dashboard query must return data; every alert expression must evaluate
 * without error, the ones the scenario triggers must return series, and the metrics each
 * expression selects must exist. Prometheus also loads alerts.yml and evaluates it every second.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  admin,
  closeHarnessClients,
  commitOffsets,
  createTopic,
  kafka,
  produce,
  uniqueName,
} from "../kafka/harness.ts";
import {
  BIN_X64,
  ensureBuilt,
  exporterConfig,
  freePort,
  get,
  killAll,
  ROOT,
  type Running,
  start,
  until,
} from "./support.ts";

const PROMETHEUS = Bun.which("prometheus") ?? "/usr/bin/prometheus";

interface PromResponse {
  status: "success" | "error";
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

interface AlertRule {
  alert: string;
  expr: string;
}

let dir: string;
let promPort: number;
let prometheus: Running;
let exporter: Running;
let lagTopic: string;
let producing = true;
let producer: Promise<void> = Promise.resolve();

async function query(expr: string): Promise<PromResponse> {
  const url = `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return (await res.json()) as PromResponse;
}

async function resultCount(expr: string): Promise<number> {
  const r = await query(expr);
  if (r.status !== "success") throw new Error(`${expr}: ${r.error}`);
  return r.data!.result.length;
}

/** Grafana's substitutions for the dashboard's variables, as with "All" selected. */
function grafanaExpr(expr: string): string {
  return expr
    .replaceAll("$__rate_interval", "1m")
    .replaceAll("$__interval", "15s")
    .replaceAll("$cluster", ".*")
    .replaceAll("$group", ".*");
}

/** Every metric selector in an expression (metric name plus its label matchers when present). */
function selectors(expr: string): string[] {
  const found = new Set<string>();
  for (const m of expr.matchAll(/\b(kafka_[a-z0-9_]+|up)\b(\{[^}]*\})?/g)) found.add(`${m[1]}${m[2] ?? ""}`);
  return [...found];
}

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

async function dashboardQueries(): Promise<{ title: string; expr: string }[]> {
  const dash = (await Bun.file(join(ROOT, "deploy/grafana/klag-exporter.json")).json()) as { panels: Panel[] };
  const flat = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...flat(p.panels ?? [])]);
  return flat(dash.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
}

async function alertRules(): Promise<AlertRule[]> {
  const file = Bun.YAML.parse(await Bun.file(join(ROOT, "deploy/prometheus/alerts.yml")).text()) as {
    groups: { rules: AlertRule[] }[];
  };
  return file.groups.flatMap((g) => g.rules);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "klag-e2e-prometheus-"));
  const [env] = await Promise.all([kafka(1), ensureBuilt("x64")]);
  const bootstrap = env.bootstrap.join(",");

  // A group lagging on records an hour old: lag, time lag, 100% of the retained range.
  lagTopic = uniqueName("e2e-prom-lag");
  const lagGroup = uniqueName("e2e-prom-lagging");
  await createTopic(lagTopic, 2);
  const hourAgo = Date.now() - 3_600_000;
  const old = Array.from({ length: 300 }, (_, i) => [
    { partition: 0, value: `a${i}`, timestamp: hourAgo + i },
    { partition: 1, value: `b${i}`, timestamp: hourAgo + i },
  ]).flat();
  await produce(lagTopic, old);
  await commitOffsets(lagGroup, lagTopic, [
    { partition: 0, offset: 0 },
    { partition: 1, offset: 0 },
  ]);
  // A group that lost records: committed 2, log start moved to 5.
  const lossTopic = uniqueName("e2e-prom-loss");
  const lossGroup = uniqueName("e2e-prom-lossy");
  await createTopic(lossTopic, 1);
  await produce(
    lossTopic,
    Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: `l${i}` })),
  );
  await commitOffsets(lossGroup, lossTopic, [{ partition: 0, offset: 2 }]);
  await (await admin()).deleteTopicRecords({ topic: lossTopic, partitions: [{ partition: 0, offset: "5" }] });

  const exporterPort = freePort();
  const configPath = join(dir, "klag.toml");
  writeFileSync(
    configPath,
    exporterConfig({ port: exporterPort, clusters: { main: bootstrap, unreachable: `127.0.0.1:${freePort()}` } }),
  );
  exporter = start([BIN_X64, "--config", configPath]);

  promPort = freePort();
  const promConfig = join(dir, "prometheus.yml");
  mkdirSync(join(dir, "data"));
  writeFileSync(
    promConfig,
    [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "  evaluation_interval: 1s",
      "rule_files:",
      `  - ${join(ROOT, "deploy/prometheus/alerts.yml")}`,
      "scrape_configs:",
      "  - job_name: klag-exporter",
      "    static_configs:",
      `      - targets: ["127.0.0.1:${exporterPort}"]`,
      "  - job_name: klag-exporter-unreachable",
      "    static_configs:",
      `      - targets: ["127.0.0.1:${freePort()}"]`,
      "",
    ].join("\n"),
  );
  prometheus = start([
    PROMETHEUS,
    `--config.file=${promConfig}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    "--storage.tsdb.retention.time=1h",
  ]);
  await until(
    async () => ((await get(`http://127.0.0.1:${promPort}/-/ready`))?.status === 200 ? true : undefined),
    30_000,
    `Prometheus ready (${prometheus.stderr().slice(-2000)})`,
  );

  // Keep the lagging group falling behind while Prometheus collects samples.
  producer = (async () => {
    let n = 0;
    while (producing) {
      await produce(lagTopic, [
        { partition: 0, value: `n${n}` },
        { partition: 1, value: `n${n}` },
      ]);
      n++;
      await Bun.sleep(250);
    }
  })();
  await until(
    async () => ((await resultCount(`kafka_consumergroup_group_sum_lag{group="${lagGroup}"}`)) > 0 ? true : undefined),
    30_000,
    "the exporter scraped by Prometheus",
  );
  // Enough samples for deriv() and rate() windows.
  await Bun.sleep(8_000);
}, 180_000);

afterAll(async () => {
  producing = false;
  await producer.catch(() => {});
  await killAll();
  await closeHarnessClients();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the Grafana dashboard against a real Prometheus", () => {
  test("has a query for lag, time lag, data loss, retention, group state and exporter health", async () => {
    const exprs = (await dashboardQueries()).map((q) => q.expr).join("\n");
    for (const metric of [
      "kafka_consumergroup_group_sum_lag",
      "kafka_consumergroup_group_max_lag_seconds",
      "kafka_consumergroup_group_messages_lost",
      "kafka_consumergroup_group_retention_margin",
      "kafka_consumergroup_group_lag_retention_ratio",
      "kafka_consumergroup_group_state",
      "kafka_lag_exporter_scrape_duration_seconds",
      "kafka_lag_exporter_cluster_up",
    ]) {
      expect(`${metric}: ${exprs.includes(metric)}`).toBe(`${metric}: true`);
    }
  });

  test("every panel query returns data", async () => {
    const empty: string[] = [];
    for (const q of await dashboardQueries()) {
      const n = await resultCount(grafanaExpr(q.expr));
      if (n === 0) empty.push(`${q.title}: ${q.expr}`);
    }
    expect(empty).toEqual([]);
  });

  test("the variables' label_values queries find the clusters and groups", async () => {
    expect(await resultCount("kafka_lag_exporter_cluster_up")).toBeGreaterThanOrEqual(2);
    expect(await resultCount('kafka_consumergroup_group_sum_lag{cluster_name=~".*"}')).toBeGreaterThan(0);
  });
});

describe("the alert rules against a real Prometheus", () => {
  const triggered = [
    "KafkaConsumerGroupLagGrowing",
    "KafkaConsumerGroupTimeLagHigh",
    "KafkaConsumerGroupDataLoss",
    "KafkaConsumerGroupNearRetention",
    "KlagExporterDown",
    "KlagExporterClusterDown",
  ];

  test("every expression evaluates without error and selects metrics the exporter exposes", async () => {
    const missing: string[] = [];
    for (const rule of await alertRules()) {
      const r = await query(rule.expr);
      expect(`${rule.alert}: ${r.status}${r.error ? ` ${r.error}` : ""}`).toBe(`${rule.alert}: success`);
      for (const s of selectors(rule.expr)) if ((await resultCount(s)) === 0) missing.push(`${rule.alert}: ${s}`);
    }
    expect(missing).toEqual([]);
  });

  test("the expressions of the alerts this scenario triggers return series", async () => {
    const rules = await alertRules();
    const quiet: string[] = [];
    for (const name of triggered) {
      const rule = rules.find((r) => r.alert === name);
      expect(rule).toBeDefined();
      if ((await resultCount(rule!.expr)) === 0) quiet.push(name);
    }
    expect(quiet).toEqual([]);
  });

  test("Prometheus loads the rule file and evaluates every rule without error", async () => {
    const res = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
    };
    const rules = res.data.groups.flatMap((g) => g.rules);
    expect(rules.length).toBe((await alertRules()).length);
    expect(rules.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.health} ${r.lastError ?? ""}`)).toEqual(
      [],
    );
  });

  test("the triggered alerts are pending or firing in Prometheus, and data loss fires at once", async () => {
    const alerts = await until(
      async () => {
        const res = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/alerts`)).json()) as {
          data: { alerts: { labels: { alertname: string }; state: string }[] };
        };
        const names = new Set(res.data.alerts.map((a) => a.labels.alertname));
        return triggered.every((t) => names.has(t)) ? res.data.alerts : undefined;
      },
      15_000,
      "all triggered alerts active",
    );
    expect(alerts.some((a) => a.labels.alertname === "KafkaConsumerGroupDataLoss" && a.state === "firing")).toBe(true);
    const unexpected = alerts.map((a) => a.labels.alertname).filter((n) => !triggered.includes(n));
    expect([...new Set(unexpected)]).toEqual([]);
  });

  test("the exporter stayed healthy throughout", async () => {
    expect(exporter.proc.exitCode).toBeNull();
    expect(exporter.stderr()).not.toContain("level=error");
  });
});
