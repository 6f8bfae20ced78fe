/**
 * deploy/prometheus/alerts.yml: promtool accepts the rules, the promtool unit tests in
 * alerts.test.yml pass, and every alert has a unit test in which it fires and one in which it
 * stays quiet. (Each expression is also queried against a real Prometheus scraping the binary in
 * tests/e2e/prometheus.test.ts.)
 */
import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";

const DIR = join(resolve(import.meta.dir, "../.."), "deploy/prometheus");
const PROMTOOL = Bun.which("promtool") ?? "/usr/bin/promtool";

interface RuleFile {
  groups: {
    name: string;
    rules: {
      alert?: string;
      record?: string;
      expr: string;
      for?: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    }[];
  }[];
}
interface UnitTests {
  rule_files: string[];
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

async function yaml<T>(name: string): Promise<T> {
  return Bun.YAML.parse(await Bun.file(join(DIR, name)).text()) as T;
}

function promtool(args: string[]): { code: number; out: string } {
  const p = Bun.spawnSync([PROMTOOL, ...args], { cwd: DIR, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: `${p.stdout.toString()}${p.stderr.toString()}` };
}

describe("the Prometheus alert rules", () => {
  test("pass promtool check rules", () => {
    const r = promtool(["check", "rules", "alerts.yml"]);
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  test("pass their promtool unit tests", () => {
    const r = promtool(["test", "rules", "alerts.test.yml"]);
    if (r.code !== 0) console.error(r.out);
    expect(r.code).toBe(0);
  });

  test("every alert is unit-tested both firing and quiet", async () => {
    const rules = await yaml<RuleFile>("alerts.yml");
    const tests = await yaml<UnitTests>("alerts.test.yml");
    expect(tests.rule_files).toEqual(["alerts.yml"]);
    const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((a): a is string => !!a);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const fires = new Set(cases.filter((c) => (c.exp_alerts ?? []).length > 0).map((c) => c.alertname));
    const quiet = new Set(cases.filter((c) => (c.exp_alerts ?? []).length === 0).map((c) => c.alertname));
    expect(alerts.filter((a) => !fires.has(a))).toEqual([]);
    expect(alerts.filter((a) => !quiet.has(a))).toEqual([]);
    // And no test names an alert that does not exist.
    expect([...new Set(cases.map((c) => c.alertname))].filter((a) => !alerts.includes(a))).toEqual([]);
  });

  test("cover lag growth, time lag, data loss, retention, exporter down and cluster down or stale", async () => {
    const rules = await yaml<RuleFile>("alerts.yml");
    const all = rules.groups.flatMap((g) => g.rules);
    const uses = (metric: string) => all.some((r) => r.expr.includes(metric));
    for (const metric of [
      "kafka_consumergroup_group_sum_lag",
      "kafka_consumergroup_group_max_lag_seconds",
      "kafka_consumergroup_group_messages_lost",
      "kafka_lag_exporter_data_loss_partitions_total",
      "kafka_consumergroup_group_lag_retention_ratio",
      "up{",
      "kafka_lag_exporter_cluster_up",
      "kafka_lag_exporter_last_update_timestamp_seconds",
    ]) {
      expect(`${metric}: ${uses(metric)}`).toBe(`${metric}: true`);
    }
    for (const r of all) {
      expect(r.labels?.severity).toMatch(/^(critical|warning|info)$/);
      expect(r.annotations?.summary).toBeTruthy();
      expect(r.annotations?.description).toBeTruthy();
    }
  });
});
