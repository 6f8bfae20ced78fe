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
async function oneCycle(
  clusters: ClusterToml[],
  vars = env(),
  exporter = "",
): Promise<{ samples: Sample[]; log: string }> {
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
    find(samples, "kafka_consumergroup_group_lag", { group }).map((s) => [
      `${s.labels.topic}/${s.labels.partition}`,
      s.value,
    ]),
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
        expect(
          value(samples, "kafka_partition_latest_offset", { topic: r.topic, partition: String(r.partition) }),
        ).toBe(r.logEndOffset!);
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
    expect(
      value(samples, "kafka_lag_exporter_failed_groups", { cluster_name: "secure", reason: "authorization" }),
    ).toBe(1);
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
    expect(value(samples, "kafka_lag_exporter_failed_groups", { reason: "authorization" }) ?? 0).toBe(0);
  });

  test("message-mode time lag needs READ on the topic: without it time lag is absent and logged, with it lag_seconds appear", async () => {
    const run = async () => {
      const log = capturingLogger();
      const text = toml([{ bootstrap: info.listeners.saslSsl, properties: scramSsl() }]).replace(
        "[exporter.timestamp_sampling]\nenabled = false",
        '[exporter.timestamp_sampling]\nenabled = true\nmode = "message"',
      );
      const exp = inProcessExporter(configFrom(text, env()), log.logger);
      try {
        return { samples: await exp.cycle(), log: log.text() };
      } finally {
        await exp.stop();
      }
    };
    const before = await run();
    // Offset lag is unaffected; time lag is absent (never a false 0) and the read failure is logged.
    expect(value(before.samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(1);
    expect(lagOf(before.samples, okGroup()).size).toBe(3);
    // Only the caught-up partition 2 has a time lag (0, no read needed); 0 and 1 have none.
    const secondsBefore = find(before.samples, "kafka_consumergroup_group_lag_seconds", { group: okGroup() });
    expect(secondsBefore.map((s) => [s.labels.partition, s.value])).toEqual([["2", 0]]);
    expect(value(before.samples, "kafka_lag_exporter_time_lag_method", { method: "message" })).toBe(1);
    expect(before.log).toMatch(/time-lag read failed.*TOPIC_AUTHORIZATION_FAILED/);

    await grant(admin, "User:exporter", [{ resource: "topic", name: `${p}-t`, prefixed: true, operation: "read" }]);
    const after = await run();
    const seconds = find(after.samples, "kafka_consumergroup_group_lag_seconds", { group: okGroup() });
    expect(
      seconds
        .filter((s) => s.value >= 0)
        .map((s) => s.labels.partition)
        .sort(),
    ).toEqual(["0", "1", "2"]);
    // Every committed partition of both groups (3 + 4) now has a message-mode value.
    expect(value(after.samples, "kafka_lag_exporter_time_lag_method", { method: "message" })).toBe(7);
    expect(after.log).not.toMatch(/TOPIC_AUTHORIZATION_FAILED/);
  });
});

describe("wrong credentials", () => {
  test("a wrong password fails only its own cluster: clear error in log and status page, /ready 503 naming it", async () => {
    const wrong = `wrong-${p}-pw`;
    const config = configFrom(
      toml([
        { name: "good", bootstrap: info.listeners.saslSsl, properties: scramSsl() },
        { name: "bad", bootstrap: info.listeners.saslSsl, properties: scramSsl("${BAD_PASSWORD}") },
      ]),
      env({ BAD_PASSWORD: wrong }),
    );
    const log = capturingLogger();
    const daemon = createDaemon({ config, logger: log.logger });
    await daemon.start();
    try {
      const url = daemon.url()!;
      const ready = await until(
        async () => {
          const r = await fetch(`${url}ready`);
          const body = await r.text();
          return r.status === 503 && /cluster bad: .*authentication failed/.test(body) && !body.includes("cluster good")
            ? body
            : undefined;
        },
        30_000,
        "/ready to name only the bad cluster",
      );
      expect(ready).toMatch(/cluster bad: no successful collection yet \(.*authentication failed/i);
      expect(ready).toContain("invalid credentials");
      const samples = parseExposition(await (await fetch(`${url}metrics`)).text());
      expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "good" })).toBe(1);
      expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "bad" })).toBe(0);
      expect(find(samples, "kafka_consumergroup_group_lag", { cluster_name: "good", group: okGroup() })).toHaveLength(
        3,
      );
      const page = await (await fetch(url)).text();
      expect(page).toMatch(/<td>bad<\/td><td>(down|stale)<\/td>.*authentication failed.*invalid credentials/);
      expect(page).toMatch(/<td>good<\/td><td>up<\/td>/);
      expect(log.text()).toMatch(/collection cycle failed.*cluster=bad.*authentication failed.*invalid credentials/);
      // The wrong password is a secret too.
      for (const text of [ready, page, log.text()]) expect(text).not.toContain(wrong);
      expect((await fetch(`${url}health`)).status).toBe(200);
    } finally {
      await daemon.stop();
    }
  });
});

describe("SASL_PLAINTEXT", () => {
  for (const mechanism of ["PLAIN", "SCRAM-SHA-256"]) {
    test(`${mechanism} authenticates and reports correct lag`, async () => {
      const { samples } = await oneCycle([
        {
          bootstrap: info.listeners.saslPlaintext,
          properties: {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": mechanism,
            "sasl.username": "exporter",
            "sasl.password": "${KAFKA_PASSWORD}",
          },
        },
      ]);
      expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(1);
      expect(Object.fromEntries(lagOf(samples, okGroup()))).toEqual({
        [`${topic}/0`]: 15,
        [`${topic}/1`]: 8,
        [`${topic}/2`]: 0,
      });
    });
  }

  test("a mechanism the listener does not enable fails with the broker's reason", async () => {
    const { samples, log } = await oneCycle([
      {
        bootstrap: info.listeners.saslPlaintext,
        properties: {
          "security.protocol": "SASL_PLAINTEXT",
          "sasl.mechanism": "SCRAM-SHA-512",
          "sasl.username": "exporter",
          "sasl.password": "${KAFKA_PASSWORD}",
        },
      },
    ]);
    expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(0);
    expect(log).toMatch(/cluster=secure.*does not support the requested SASL mechanism/);
  });
});

describe("SSL", () => {
  const mtls = (extra: Record<string, string> = {}): Record<string, string> => ({
    "security.protocol": "SSL",
    "ssl.ca.location": "${KAFKA_CA}",
    "ssl.certificate.location": info.pki.clientCert,
    "ssl.key.location": info.pki.clientKey,
    "ssl.key.password": "${KEY_PASSWORD}",
    ...extra,
  });
  const keyEnv = () => env({ KEY_PASSWORD: info.pki.clientKeyPassword });

  test("mTLS with an encrypted PKCS#8 client key authenticates as the certificate's CN", async () => {
    const { samples } = await oneCycle([{ bootstrap: info.listeners.mtls, properties: mtls() }], keyEnv());
    expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(1);
    expect(lagOf(samples, okGroup()).size).toBe(3);
    // CN=exporter maps to User:exporter, so the same ACLs apply.
    expect(value(samples, "kafka_lag_exporter_failed_groups", { reason: "authorization" })).toBe(1);
  });

  test("mTLS with a traditional (Proc-Type: ENCRYPTED) client key works too", async () => {
    const { samples } = await oneCycle(
      [{ bootstrap: info.listeners.mtls, properties: mtls({ "ssl.key.location": info.pki.clientKeyTraditional }) }],
      keyEnv(),
    );
    expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(1);
  });

  test("a wrong key password fails clearly without showing it", async () => {
    const wrong = `not-the-key-password-${p}`;
    const { samples, log } = await oneCycle(
      [{ bootstrap: info.listeners.mtls, properties: mtls() }],
      env({ KEY_PASSWORD: wrong }),
    );
    expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(0);
    expect(log).toMatch(/cluster=secure.*(decrypt|bad decrypt|passphrase|private key|key)/i);
    expect(log).not.toContain(wrong);
  });

  test("without a client certificate, or with one from an untrusted CA, the broker refuses the handshake", async () => {
    const none = await oneCycle([
      { bootstrap: info.listeners.mtls, properties: { "security.protocol": "SSL", "ssl.ca.location": "${KAFKA_CA}" } },
    ]);
    expect(value(none.samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(0);
    expect(none.log).toMatch(/cluster=secure.*(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|handshake|socket|closed)/i);
    const rogue = await oneCycle([
      {
        bootstrap: info.listeners.mtls,
        properties: {
          "security.protocol": "SSL",
          "ssl.ca.location": "${KAFKA_CA}",
          "ssl.certificate.location": info.pki.rogueClientCert,
          "ssl.key.location": info.pki.rogueClientKey,
        },
      },
    ]);
    expect(value(rogue.samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(0);
    expect(rogue.log).toMatch(/cluster=secure.*(CERTIFICATE_UNKNOWN|UNKNOWN_CA|handshake|socket|closed)/i);
  });

  test("an untrusted server certificate fails with verification on and works with enable.ssl.certificate.verification=false", async () => {
    const untrusted = { ...scramSsl() } as Record<string, string>;
    delete untrusted["ssl.ca.location"];
    const verified = await oneCycle([
      {
        bootstrap: info.listeners.saslSsl,
        properties: { ...untrusted, "enable.ssl.certificate.verification": "true" },
      },
    ]);
    expect(value(verified.samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(0);
    expect(verified.log).toMatch(/cluster=secure.*(unable to verify|self.signed|certificate)/i);
    // A CA that did not sign the broker's certificate is just as untrusted.
    const wrongCa = await oneCycle(
      [{ bootstrap: info.listeners.saslSsl, properties: scramSsl() }],
      env({ KAFKA_CA: info.pki.rogueCa }),
    );
    expect(value(wrongCa.samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(0);

    const unverified = await oneCycle([
      {
        bootstrap: info.listeners.saslSsl,
        properties: { ...untrusted, "enable.ssl.certificate.verification": "false" },
      },
    ]);
    expect(value(unverified.samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(1);
    expect(lagOf(unverified.samples, okGroup()).size).toBe(3);
  });

  test("host name checking accepts the certificate's SAN (localhost) and can be turned off with none", async () => {
    const byName = await oneCycle([
      { bootstrap: info.listeners.saslSsl.replace("127.0.0.1", "localhost"), properties: scramSsl() },
    ]);
    expect(value(byName.samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(1);
    const none = await oneCycle([
      {
        bootstrap: info.listeners.saslSsl,
        properties: { ...scramSsl(), "ssl.endpoint.identification.algorithm": "none" },
      },
    ]);
    expect(value(none.samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(1);
  });
});

describe("OAUTHBEARER (OIDC client credentials; the broker verifies RS256 JWTs against its JWKS)", () => {
  let idp: OidcServer;
  const secret = () => `oidc-secret-${p}`;
  beforeAll(() => {
    idp = startOidcServer(info, { exporter: secret() }, { lifetimeS: 20 });
  });
  afterAll(() => idp?.stop());

  const oauth = (clientSecret = "${OIDC_SECRET}"): Record<string, string> => ({
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "OAUTHBEARER",
    "sasl.oauthbearer.method": "oidc",
    "sasl.oauthbearer.client.id": "exporter",
    "sasl.oauthbearer.client.secret": clientSecret,
    "sasl.oauthbearer.token.endpoint.url": idp.url,
    "sasl.oauthbearer.scope": "kafka.read",
  });

  test("a token from the endpoint authenticates as its subject and lag is reported", async () => {
    const issued = idp.issued;
    const { samples } = await oneCycle(
      [{ bootstrap: info.listeners.oauth, properties: oauth() }],
      env({ OIDC_SECRET: secret() }),
    );
    expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(1);
    expect(Object.fromEntries(lagOf(samples, okGroup()))).toEqual({
      [`${topic}/0`]: 15,
      [`${topic}/1`]: 8,
      [`${topic}/2`]: 0,
    });
    expect(value(samples, "kafka_lag_exporter_failed_groups", { reason: "authorization" })).toBe(1);
    expect(idp.issued).toBeGreaterThan(issued);
    expect(idp.scopes.at(-1)).toBe("kafka.read");
  });

  test("tokens are refreshed before they expire: cycles keep succeeding past a token's lifetime", async () => {
    const log = capturingLogger();
    const config = configFrom(
      toml([{ bootstrap: info.listeners.oauth, properties: oauth() }]),
      env({ OIDC_SECRET: secret() }),
    );
    const exp = inProcessExporter(config, log.logger);
    const issued = idp.issued;
    try {
      // Tokens live 20 s; the broker ends a session when its token expires (connections.max.reauth.ms).
      const started = Date.now();
      while (Date.now() - started < 32_000) {
        const samples = await exp.cycle();
        expect({
          at: Date.now() - started,
          up: value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" }),
        }).toMatchObject({ up: 1 });
        await Bun.sleep(2_000);
      }
    } finally {
      await exp.stop();
    }
    expect(idp.issued - issued).toBeGreaterThanOrEqual(2);
    expect(idp.issued - issued).toBeLessThanOrEqual(6);
    expect(log.text()).not.toMatch(/cycle failed|level=error|SASL|authentication/i);
  }, 60_000);

  test("a token the broker refuses (wrong audience) fails as an authentication error that says so", async () => {
    const foreign = startOidcServer(info, { exporter: secret() }, { audience: "some-other-service" });
    try {
      const props = { ...oauth(), "sasl.oauthbearer.token.endpoint.url": foreign.url };
      const { samples, log } = await oneCycle(
        [{ bootstrap: info.listeners.oauth, properties: props }],
        env({ OIDC_SECRET: secret() }),
      );
      expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(0);
      expect(log).toMatch(
        /cycle failed.*SASL OAUTHBEARER authentication failed: broker .* rejected the token .*invalid_token/,
      );
      // Not kafkajs' confusing follow-up (ILLEGAL_SASL_STATE on the next request).
      expect(log).not.toMatch(/error 34|ILLEGAL_SASL_STATE/);
      expect(foreign.issued).toBeGreaterThanOrEqual(1);
    } finally {
      foreign.stop();
    }
  });

  test("a wrong client secret fails with the endpoint's status and never shows the secret", async () => {
    const wrong = `wrong-oidc-secret-${p}`;
    const rejected = idp.rejected;
    const { samples, log } = await oneCycle(
      [{ bootstrap: info.listeners.oauth, properties: oauth() }],
      env({ OIDC_SECRET: wrong }),
    );
    expect(value(samples, "kafka_lag_exporter_cluster_up", { cluster_name: "secure" })).toBe(0);
    expect(idp.rejected).toBeGreaterThan(rejected);
    expect(log).toMatch(/cluster=secure.*HTTP 401/);
    expect(log).not.toContain(wrong);
  });
});
