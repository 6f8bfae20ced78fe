/**
 * Secure clusters against a real broker (scripts/kafka/secure-cluster.sh): SASL_SSL with
 * SCRAM-SHA-512 and a least-privilege user checked against kafka-consumer-groups, authorization
 * failures counted (never zeroed), wrong credentials isolated to their cluster, SASL_PLAINTEXT
 * (PLAIN, SCRAM-SHA-256), mTLS with an encrypted key, certificate verification on and off, and
 * OAUTHBEARER through the OIDC client-credentials flow with JWTs the broker checks against its JWKS.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Admin } from "kafkajs";
import { createDaemon } from "../../src/daemon/daemon.ts";
import { configFrom, find, inProcessExporter, parseExposition, type Sample, value } from "../helpers/exposition.ts";
import { uniqueName } from "../kafka/harness.ts";
import {
  capturingLogger,
  commit,
  consumerGroupsAsAdmin,
  freePort,
  grant,
  internalAdmin,
  type OidcServer,
  type SecureCluster,
  startOidcServer,
  startSecureCluster,
  stopSecureCluster,
  topicWithMessages,
  until,
} from "./support.ts";

let info: SecureCluster;
let admin: Admin;
/** Every test's topics and groups start with this; the exporter user may describe `${p}-t*` topics and `${p}-ok*` groups. */
let p: string;
let topic: string;
let readableTopic: string;
const okGroup = () => `${p}-ok`;
const okGroup2 = () => `${p}-ok-2`;
const forbiddenGroup = () => `${p}-forbidden`;

beforeAll(async () => {
  info = await startSecureCluster("security-sasl-tls");
  admin = await internalAdmin(info);
  p = uniqueName("sec");
  topic = `${p}-t-orders`;
  readableTopic = `${p}-t-readable`;
  await topicWithMessages(info, admin, topic, 3, 20);
  await topicWithMessages(info, admin, readableTopic, 1, 10);
  await commit(admin, okGroup(), topic, [5, 12, 20]);
  await commit(admin, okGroup2(), topic, [1, 1, 1]);
  await commit(admin, okGroup2(), readableTopic, [4]);
  await commit(admin, forbiddenGroup(), topic, [0, 0, 0]);
  // Least privilege for User:exporter (SCRAM, PLAIN, the mTLS CN and the OAuth "sub" all map to it).
  await grant(admin, "User:exporter", [
    { resource: "cluster", operation: "describe" },
    { resource: "topic", name: `${p}-t`, prefixed: true, operation: "describe" },
    { resource: "group", name: `${p}-ok`, prefixed: true, operation: "describe" },
  ]);
  // User:narrow may describe the same topics and groups but not the cluster.
  await grant(admin, "User:narrow", [
    { resource: "topic", name: `${p}-t`, prefixed: true, operation: "describe" },
    { resource: "group", name: `${p}-ok`, prefixed: true, operation: "describe" },
  ]);
}, 180_000);

afterAll(async () => {
  await admin?.disconnect().catch(() => {});
  stopSecureCluster(info);
});

interface ClusterToml {
  name?: string;
  bootstrap: string;
  properties: Record<string, string>;
}

/** An exporter config whose filters select this file's groups and topics; secrets come from `${VAR}`. */
function toml(clusters: ClusterToml[], exporter = ""): string {
  const out = [
    "[exporter]",
    'poll_interval = "30s"',
    'granularity = "partition"',
    'http_host = "127.0.0.1"',
    `http_port = ${freePort()}`,
    'staleness_threshold = "5m"',
    exporter,
    "[exporter.performance]",
    'kafka_timeout = "10s"',
    "[exporter.timestamp_sampling]",
    "enabled = false",
  ];
  for (const c of clusters) {
    out.push(
      "[[clusters]]",
      `name = "${c.name ?? "secure"}"`,
      `bootstrap_servers = "${c.bootstrap}"`,
      `group_whitelist = ["^${p}-"]`,
      `topic_whitelist = ["^${p}-"]`,
      "[clusters.consumer_properties]",
      ...Object.entries(c.properties).map(([k, v]) => `${JSON.stringify(k)} = ${JSON.stringify(v)}`),
    );
  }
  return `${out.join("\n")}\n`;
}

function scramSsl(password = "${KAFKA_PASSWORD}"): Record<string, string> {
  return {
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "exporter",
    "sasl.password": password,
    "ssl.ca.location": "${KAFKA_CA}",
  };
}

function env(extra: Record<string, string> = {}): Record<string, string> {
  return { KAFKA_PASSWORD: info.users.exporter, KAFKA_CA: info.pki.ca, ...extra };
}

/** One cycle with the real loop; returns samples and the captured log. */
async function oneCycle(clusters: ClusterToml[], vars = env(), exporter = ""): Promise<{ samples: Sample[]; log: string }> {
  const log = capturingLogger();
  const exp = inProcessExporter(configFrom(toml(clusters, exporter), vars), log.logger);
  try {
    const samples = await exp.cycle();
    return { samples, log: log.text() };
  } finally {
    await exp.stop();
  }
}

function lagOf(samples: Sample[], group: string): Map<string, number> {
  return new Map(
    find(samples, "kafka_consumergroup_group_lag", { group }).map((s) => [`${s.labels.topic}/${s.labels.partition}`, s.value]),
  );
}

describe("SASL_SSL with SCRAM-SHA-512 and a least-privilege user", () => {
  test("lag equals kafka-consumer-groups for the groups the user may describe", async () => {
    const { samples } = await oneCycle([{ bootstrap: info.listeners.saslSsl, properties: scramSsl() }]);
    expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(1);
    for (const group of [okGroup(), okGroup2()]) {
      const truth = (await consumerGroupsAsAdmin(info, group)).filter((r) => r.currentOffset !== null);
      expect(truth.length).toBeGreaterThan(0);
      const lag = lagOf(samples, group);
      expect({ group, lag: Object.fromEntries(lag) }).toEqual({
        group,
        lag: Object.fromEntries(truth.map((r) => [`${r.topic}/${r.partition}`, r.lag!])),
      });
      for (const r of truth) {
        const at = { group, topic: r.topic, partition: String(r.partition) };
        expect(value(samples, "kafka_consumergroup_group_offset", at)).toBe(r.currentOffset!);
        expect(value(samples, "kafka_partition_latest_offset", { topic: r.topic, partition: String(r.partition) })).toBe(
          r.logEndOffset!,
        );
      }
    }
    expect(value(samples, "kafka_consumergroup_group_sum_lag", { group: okGroup() })).toBe(15 + 8 + 0);
  });

  test("a group the user may not describe is counted as an authorization failure, not zeroed, and the log names it", async () => {
    const { samples, log } = await oneCycle([{ bootstrap: info.listeners.saslSsl, properties: scramSsl() }]);
    // ListGroups with DESCRIBE on the cluster returns every group, so the forbidden one is seen…
    expect(find(samples, "kafka_consumergroup_group_lag", { group: forbiddenGroup() })).toHaveLength(0);
    expect(find(samples, "kafka_consumergroup_group_sum_lag", { group: forbiddenGroup() })).toHaveLength(0);
    expect(find(samples, "kafka_consumergroup_group_max_lag", { group: forbiddenGroup() })).toHaveLength(0);
    // …and counted once, by reason, while the others are reported normally.
    expect(value(samples, "kafka_lag_exporter_failed_groups", { cluster_name: "secure", reason: "authorization" })).toBe(1);
    expect(lagOf(samples, okGroup()).size).toBe(3);
    expect(lagOf(samples, okGroup2()).size).toBe(4);
    expect(log).toContain(forbiddenGroup());
    expect(log).toMatch(/GROUP_AUTHORIZATION_FAILED/);
  });

  test("without DESCRIBE on the cluster, ListGroups returns only the groups the user may describe", async () => {
    const props = { ...scramSsl(), "sasl.username": "narrow", "sasl.password": "${NARROW_PASSWORD}" };
    const { samples } = await oneCycle(
      [{ bootstrap: info.listeners.saslSsl, properties: props }],
      env({ NARROW_PASSWORD: info.users.narrow }),
    );
    expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(1);
    expect(lagOf(samples, okGroup()).size).toBe(3);
    // The forbidden group is invisible: not listed, so neither reported nor counted.
    expect(find(samples, "kafka_consumergroup_group_lag", { group: forbiddenGroup() })).toHaveLength(0);
    expect(find(samples, "kafka_lag_exporter_failed_groups", { reason: "authorization" })).toHaveLength(0);
  });

  test("message-mode time lag needs READ on the topic: without it the partitions are counted, with it lag_seconds appear", async () => {
    const sampling = ["[exporter.timestamp_sampling]", "enabled = true", 'mode = "message"'].join("\n");
    const cfg = (t: string) => t.replace("[exporter.timestamp_sampling]\nenabled = false\n", "");
    const run = async () => {
      const log = capturingLogger();
      const config = configFrom(cfg(toml([{ bootstrap: info.listeners.saslSsl, properties: scramSsl() }], sampling)), env());
      const exp = inProcessExporter(config, log.logger);
      try {
        return { samples: await exp.cycle(), log: log.text() };
      } finally {
        await exp.stop();
      }
    };
    const before = await run();
    expect(value(before.samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(1);
    // Offset lag is unaffected; time lag for the lagging partitions is absent (never a false 0).
    expect(lagOf(before.samples, okGroup()).size).toBe(3);
    const secondsBefore = find(before.samples, "kafka_consumergroup_group_lag_seconds", { group: okGroup(), partition: "0" });
    expect(secondsBefore.every((s) => Number.isNaN(s.value))).toBe(true);

    await grant(admin, "User:exporter", [{ resource: "topic", name: `${p}-t`, prefixed: true, operation: "read" }]);
    const after = await run();
    const seconds = find(after.samples, "kafka_consumergroup_group_lag_seconds", { group: okGroup(), partition: "0" });
    expect(seconds).toHaveLength(1);
    expect(seconds[0]!.value).toBeGreaterThanOrEqual(0);
    return { before, after };
  });
});
