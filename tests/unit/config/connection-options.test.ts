import { describe, expect, test } from "bun:test";
import type { ClusterConfig } from "../../../src/config/types.ts";
import { toKafkaJsConnection } from "../../../src/kafka/connection-options.ts";

const FILES: Record<string, string> = {
  "/ca.pem": "CA-PEM",
  "/client.pem": "CERT-PEM",
  "/client.key": "KEY-PEM",
};

function readFile(path: string): string {
  const text = FILES[path];
  if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
  return text;
}

function cluster(props: Record<string, string>): ClusterConfig {
  return {
    name: "c",
    bootstrapServers: ["k1:9092", "k2:9092"],
    groupWhitelist: [".*"],
    groupBlacklist: [],
    topicWhitelist: [".*"],
    topicBlacklist: ["__.*"],
    consumerProperties: props,
    labels: {},
  };
}

describe("toKafkaJsConnection", () => {
  const rows: [name: string, props: Record<string, string>, want: Record<string, unknown>][] = [
    ["plaintext by default", {}, { clientId: "klag-exporter", brokers: ["k1:9092", "k2:9092"] }],
    ["a custom client id", { "client.id": "me" }, { clientId: "me" }],
    ["SSL without files as ssl: true", { "security.protocol": "SSL" }, { ssl: true }],
    [
      "SSL with CA, certificate, key and passphrase",
      {
        "security.protocol": "SSL",
        "ssl.ca.location": "/ca.pem",
        "ssl.certificate.location": "/client.pem",
        "ssl.key.location": "/client.key",
        "ssl.key.password": "kp",
      },
      { ssl: { ca: "CA-PEM", cert: "CERT-PEM", key: "KEY-PEM", passphrase: "kp" } },
    ],
    ["inline PEM properties", { "security.protocol": "SSL", "ssl.ca.pem": "INLINE-CA" }, { ssl: { ca: "INLINE-CA" } }],
    [
      "the system CA store for ssl.ca.location = probe",
      { "security.protocol": "SSL", "ssl.ca.location": "probe" },
      { ssl: true },
    ],
    [
      "verification turned off",
      { "security.protocol": "SSL", "enable.ssl.certificate.verification": "false" },
      { ssl: { rejectUnauthorized: false } },
    ],
    [
      "SASL/PLAIN over plaintext",
      { "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": "u", "sasl.password": "p" },
      { sasl: { mechanism: "plain", username: "u", password: "p" } },
    ],
    [
      "SCRAM-SHA-256 over TLS",
      {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "u",
        "sasl.password": "p",
      },
      { ssl: true, sasl: { mechanism: "scram-sha-256", username: "u", password: "p" } },
    ],
    [
      "SCRAM-SHA-512 via sasl.mechanisms",
      {
        "security.protocol": "sasl_ssl",
        "sasl.mechanisms": "scram-sha-512",
        "sasl.username": "u",
        "sasl.password": "p",
      },
      { sasl: { mechanism: "scram-sha-512", username: "u", password: "p" } },
    ],
    [
      "OAUTHBEARER as an OIDC marker",
      {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": "cid",
        "sasl.oauthbearer.client.secret": "cs",
        "sasl.oauthbearer.token.endpoint.url": "https://idp/token",
        "sasl.oauthbearer.scope": "kafka",
        "sasl.oauthbearer.extensions": "logicalCluster=lkc-1",
      },
      {
        sasl: {
          mechanism: "oauthbearer",
          oidc: {
            tokenEndpoint: "https://idp/token",
            clientId: "cid",
            clientSecret: "cs",
            scope: "kafka",
            extensions: { logicalCluster: "lkc-1" },
          },
        },
      },
    ],
    [
      "request and connection timeouts",
      { "request.timeout.ms": "20000", "socket.connection.setup.timeout.ms": "5000" },
      { requestTimeout: 20000, connectionTimeout: 5000 },
    ],
  ];
  for (const [name, props, want] of rows) {
    test(`maps ${name}`, () => {
      const result = toKafkaJsConnection(cluster(props), readFile);
      if (result.kind !== "ok") throw new Error(result.message);
      expect(result.options).toMatchObject(want);
    });
  }

  test("no ssl and no sasl options for plaintext", () => {
    const result = toKafkaJsConnection(cluster({}), readFile);
    expect(result).toEqual({
      kind: "ok",
      options: { clientId: "klag-exporter", brokers: ["k1:9092", "k2:9092"] },
      readCommitted: true,
    });
  });

  test("isolation.level read_uncommitted turns read_committed off (librdkafka defaults to on)", () => {
    const result = toKafkaJsConnection(cluster({ "isolation.level": "read_uncommitted" }), readFile);
    expect(result).toMatchObject({ kind: "ok", readCommitted: false });
  });

  test("endpoint identification none skips the host-name check but keeps chain verification", () => {
    const result = toKafkaJsConnection(
      cluster({ "security.protocol": "SSL", "ssl.endpoint.identification.algorithm": "none" }),
      readFile,
    );
    if (result.kind !== "ok") throw new Error(result.message);
    const ssl = result.options.ssl as {
      checkServerIdentity?: (host: string, cert: unknown) => unknown;
      rejectUnauthorized?: boolean;
    };
    expect(typeof ssl.checkServerIdentity).toBe("function");
    expect(ssl.checkServerIdentity!("other-host", {})).toBeUndefined();
    expect(ssl.rejectUnauthorized).toBeUndefined();
  });

  test("host names are checked by default (no checkServerIdentity override)", () => {
    const result = toKafkaJsConnection(cluster({ "security.protocol": "SSL", "ssl.ca.location": "/ca.pem" }), readFile);
    if (result.kind !== "ok") throw new Error(result.message);
    expect(result.options.ssl).toEqual({ ca: "CA-PEM" });
  });

  const errors: [name: string, props: Record<string, string>, message: string][] = [
    [
      "an unreadable CA file, naming the property and the path",
      { "security.protocol": "SSL", "ssl.ca.location": "/missing.pem" },
      'cluster `c`: cannot read ssl.ca.location "/missing.pem": ENOENT',
    ],
    ["GSSAPI", { "security.protocol": "SASL_SSL", "sasl.mechanism": "GSSAPI" }, "Kerberos (GSSAPI) is not supported"],
    ["SASL without a mechanism", { "security.protocol": "SASL_SSL" }, "needs sasl.mechanism"],
    [
      "PLAIN without credentials",
      { "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN" },
      "needs sasl.username and sasl.password",
    ],
    [
      "OAUTHBEARER without OIDC settings",
      { "security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER" },
      'needs sasl.oauthbearer.method = "oidc"',
    ],
    ["an unknown protocol", { "security.protocol": "TLS" }, 'unsupported security.protocol "TLS"'],
    ["a bad timeout", { "request.timeout.ms": "soon" }, "request.timeout.ms must be a positive whole number"],
  ];
  for (const [name, props, message] of errors) {
    test(`returns an error for ${name}`, () => {
      const result = toKafkaJsConnection(cluster(props), readFile);
      expect(result.kind).toBe("error");
      if (result.kind === "error") expect(result.message).toContain(message);
    });
  }
});
