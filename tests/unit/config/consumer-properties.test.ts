import { describe, expect, test } from "bun:test";
import { checkConsumerProperties, parseOauthExtensions } from "../../../src/config/consumer-properties.ts";

const PATH = "clusters[0].consumer_properties";

describe("checkConsumerProperties", () => {
  const valid: [name: string, props: Record<string, string>][] = [
    ["no properties (plaintext)", {}],
    ["TLS with a CA only", { "security.protocol": "SSL", "ssl.ca.location": "/ca.pem" }],
    [
      "mutual TLS with an encrypted key",
      {
        "security.protocol": "ssl",
        "ssl.certificate.location": "/c.pem",
        "ssl.key.location": "/k.pem",
        "ssl.key.password": "pw",
      },
    ],
    [
      "SCRAM over TLS with lower-case values",
      {
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "scram-sha-512",
        "sasl.username": "u",
        "sasl.password": "p",
      },
    ],
    [
      "PLAIN via the sasl.mechanisms alias",
      { "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN", "sasl.username": "u", "sasl.password": "p" },
    ],
    [
      "OIDC client credentials",
      {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "OIDC",
        "sasl.oauthbearer.client.id": "id",
        "sasl.oauthbearer.client.secret": "s",
        "sasl.oauthbearer.token.endpoint.url": "https://idp/token",
      },
    ],
    [
      "timeouts, client id and isolation level",
      {
        "client.id": "me",
        "request.timeout.ms": "30000",
        "socket.connection.setup.timeout.ms": "10000",
        "isolation.level": "read_committed",
      },
    ],
  ];
  for (const [name, props] of valid) {
    test(`accepts ${name}`, () => {
      expect(checkConsumerProperties(props, PATH, "c").problems).toEqual([]);
    });
  }

  const invalid: [name: string, props: Record<string, string>, key: string, message: string][] = [
    ["GSSAPI", { "security.protocol": "SASL_SSL", "sasl.mechanism": "GSSAPI" }, "sasl.mechanism", "cluster `c`"],
    [
      "a SASL protocol without mechanism",
      { "security.protocol": "SASL_SSL" },
      "sasl.mechanism",
      "needs sasl.mechanism (librdkafka's default, GSSAPI/Kerberos, is not supported)",
    ],
    [
      "SCRAM without a password",
      { "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "u" },
      "sasl.password",
      "sasl.mechanism SCRAM-SHA-256 needs sasl.password",
    ],
    [
      "OAUTHBEARER with librdkafka's default (unsecured JWT) method",
      { "security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER" },
      "sasl.oauthbearer.method",
      'sasl.oauthbearer.method = "oidc" (client credentials) only',
    ],
    [
      "OIDC without a token endpoint",
      {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": "id",
        "sasl.oauthbearer.client.secret": "s",
      },
      "sasl.oauthbearer.token.endpoint.url",
      "needs sasl.oauthbearer.token.endpoint.url",
    ],
    [
      "conflicting mechanism spellings",
      { "sasl.mechanism": "PLAIN", "sasl.mechanisms": "SCRAM-SHA-256" },
      "sasl.mechanisms",
      "conflicts with sasl.mechanism",
    ],
    [
      "a certificate without a key",
      { "security.protocol": "SSL", "ssl.certificate.location": "/c.pem" },
      "ssl.key.location",
      "needs both",
    ],
    [
      "a verification flag that is not a boolean",
      { "enable.ssl.certificate.verification": "sometimes" },
      "enable.ssl.certificate.verification",
      "expected true or false",
    ],
    [
      "an unknown endpoint identification algorithm",
      { "ssl.endpoint.identification.algorithm": "dns" },
      "ssl.endpoint.identification.algorithm",
      'expected "https" or "none"',
    ],
    [
      "bootstrap.servers",
      { "bootstrap.servers": "k:9092" },
      "bootstrap.servers",
      "set `bootstrap_servers` on the cluster",
    ],
    [
      "malformed OAuth extensions",
      { "sasl.oauthbearer.extensions": "novalue" },
      "sasl.oauthbearer.extensions",
      "key=value",
    ],
    ["an empty client.id", { "client.id": " " }, "client.id", "must not be empty"],
    ["a typo", { "ssl.ca.locatoin": "/ca.pem" }, "ssl.ca.locatoin", "did you mean `ssl.ca.location`?"],
    [
      "an unrelated name, listing the supported ones",
      { "foo.bar": "1" },
      "foo.bar",
      "remove it (supported: security.protocol,",
    ],
  ];
  for (const [name, props, key, message] of invalid) {
    test(`refuses ${name}`, () => {
      const { problems } = checkConsumerProperties(props, PATH, "c");
      const problem = problems.find((p) => p.path === `${PATH}[${JSON.stringify(key)}]`);
      expect(problem?.message).toContain(message);
    });
  }

  test("the password's value never appears in a problem", () => {
    const { problems } = checkConsumerProperties(
      { "security.protocol": "SASL_SSL", "sasl.mechanism": "WRONG", "sasl.password": "s3cr3t!" },
      PATH,
      "c",
    );
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p.message).not.toContain("s3cr3t!");
  });

  const noEffect = [
    "fetch.min.bytes",
    "session.timeout.ms",
    "enable.auto.commit",
    "auto.offset.reset",
    "statistics.interval.ms",
    "group.id",
  ];
  for (const key of noEffect) {
    test(`accepts librdkafka consumer tuning ${key} with a no-effect notice`, () => {
      const result = checkConsumerProperties({ [key]: "1" }, PATH, "c");
      expect(result.problems).toEqual([]);
      expect(result.notices).toEqual([
        `${PATH}["${key}"] has no effect in this implementation (librdkafka consumer tuning); it is ignored`,
      ]);
    });
  }
});

describe("parseOauthExtensions", () => {
  const rows: [text: string, want: Record<string, string> | undefined][] = [
    ["", {}],
    ["a=1", { a: "1" }],
    ["logicalCluster=lkc-1, identityPoolId=pool-2", { logicalCluster: "lkc-1", identityPoolId: "pool-2" }],
    ["a=x=y", { a: "x=y" }],
    ["=1", undefined],
    ["a", undefined],
  ];
  for (const [text, want] of rows) {
    test(`reads ${JSON.stringify(text)}`, () => {
      expect(parseOauthExtensions(text)).toEqual(want);
    });
  }
});
