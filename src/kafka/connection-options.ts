/**
 * librdkafka-named `consumer_properties` → kafkajs connection options (brokers, TLS, SASL,
 * timeouts). Pure apart from the injected `readFile` for PEM files; failures are values.
 * The properties were validated by src/config (edges don't import each other, so the few
 * readers below are local).
 */

import type { ConnectionOptions as TlsOptions } from "node:tls";
import type { ClusterConfig } from "../config/types.ts";

/** What the kafka layer turns into an `oauthBearerProvider` (OIDC client-credentials flow). */
export interface OidcSettings {
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
  extensions: Record<string, string>;
}

export type SaslSettings =
  | { mechanism: "plain" | "scram-sha-256" | "scram-sha-512"; username: string; password: string }
  | { mechanism: "oauthbearer"; oidc: OidcSettings };

/** The subset of kafkajs `KafkaConfig` we fill (with an OAUTHBEARER marker instead of a provider). */
export interface KafkaJsConnection {
  clientId: string;
  brokers: string[];
  ssl?: boolean | TlsOptions;
  sasl?: SaslSettings;
  requestTimeout?: number;
  connectionTimeout?: number;
}

export type ConnectionResult =
  | {
      kind: "ok";
      options: KafkaJsConnection;
      /** librdkafka's isolation.level (default read_committed): how the consumer reads, for time lag. */
      readCommitted: boolean;
    }
  | { kind: "error"; message: string };

export const DEFAULT_CLIENT_ID = "klag-exporter";

/**
 * Maps a validated cluster config to kafkajs options. `readFile(path)` returns a file's text or
 * throws; its failures come back as `{kind: "error"}` naming the property and the path.
 *
 * Example: {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "u",
 * "sasl.password": "p", "ssl.ca.location": "/ca.pem"} →
 * { ssl: { ca: "<pem>" }, sasl: { mechanism: "scram-sha-512", username: "u", password: "p" } }.
 */
export function toKafkaJsConnection(cluster: ClusterConfig, readFile: (path: string) => string): ConnectionResult {
  const props = cluster.consumerProperties;
  const where = `cluster \`${cluster.name}\``;
  const options: KafkaJsConnection = {
    clientId: props["client.id"]?.trim() || DEFAULT_CLIENT_ID,
    brokers: [...cluster.bootstrapServers],
  };
  const protocol = securityProtocolOf(props);
  if (!["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"].includes(protocol)) {
    return { kind: "error", message: `${where}: unsupported security.protocol "${props["security.protocol"]}"` };
  }

  if (protocol === "ssl" || protocol === "sasl_ssl") {
    const tls: TlsOptions = {};
    for (const [fileKey, pemKey, field] of [
      ["ssl.ca.location", "ssl.ca.pem", "ca"],
      ["ssl.certificate.location", "ssl.certificate.pem", "cert"],
      ["ssl.key.location", "ssl.key.pem", "key"],
    ] as const) {
      const inline = props[pemKey];
      const file = props[fileKey];
      if (inline !== undefined && inline.trim() !== "") {
        tls[field] = inline;
      } else if (file !== undefined && file.trim() !== "" && !(field === "ca" && file.trim() === "probe")) {
        // "probe" asks librdkafka to find the system CA store; Bun's built-in roots do that job.
        try {
          tls[field] = readFile(file);
        } catch (e) {
          const reason = e instanceof Error ? e.message : String(e);
          return { kind: "error", message: `${where}: cannot read ${fileKey} "${file}": ${reason}` };
        }
      }
    }
    const passphrase = props["ssl.key.password"];
    if (passphrase !== undefined && passphrase !== "") tls.passphrase = passphrase;
    const verify = props["enable.ssl.certificate.verification"];
    if (verify !== undefined && !isTrueProperty(verify)) tls.rejectUnauthorized = false;
    // librdkafka ≥ 2.0 checks the host name by default ("https"); "none" keeps the chain check only.
    const identification = (props["ssl.endpoint.identification.algorithm"] ?? "https").trim().toLowerCase();
    if (identification === "none") tls.checkServerIdentity = () => undefined;
    options.ssl = Object.keys(tls).length === 0 ? true : tls;
  }

  if (protocol === "sasl_plaintext" || protocol === "sasl_ssl") {
    const mechanism = saslMechanismOf(props);
    if (mechanism === "PLAIN" || mechanism === "SCRAM-SHA-256" || mechanism === "SCRAM-SHA-512") {
      const username = props["sasl.username"] ?? "";
      const password = props["sasl.password"] ?? "";
      if (username === "" || password === "") {
        return {
          kind: "error",
          message: `${where}: sasl.mechanism ${mechanism} needs sasl.username and sasl.password`,
        };
      }
      options.sasl = {
        mechanism: mechanism.toLowerCase() as "plain" | "scram-sha-256" | "scram-sha-512",
        username,
        password,
      };
    } else if (mechanism === "OAUTHBEARER") {
      const method = (props["sasl.oauthbearer.method"] ?? "default").trim().toLowerCase();
      const tokenEndpoint = props["sasl.oauthbearer.token.endpoint.url"] ?? "";
      const clientId = props["sasl.oauthbearer.client.id"] ?? "";
      const clientSecret = props["sasl.oauthbearer.client.secret"] ?? "";
      if (method !== "oidc" || tokenEndpoint === "" || clientId === "" || clientSecret === "") {
        return {
          kind: "error",
          message:
            `${where}: OAUTHBEARER needs sasl.oauthbearer.method = "oidc" with token.endpoint.url, ` +
            "client.id and client.secret",
        };
      }
      const extensions = parseOauthExtensions(props["sasl.oauthbearer.extensions"] ?? "");
      if (extensions === undefined) {
        return { kind: "error", message: `${where}: malformed sasl.oauthbearer.extensions (expected "k=v,k2=v2")` };
      }
      const oidc: OidcSettings = { tokenEndpoint, clientId, clientSecret, extensions };
      const scope = props["sasl.oauthbearer.scope"];
      if (scope !== undefined && scope.trim() !== "") oidc.scope = scope.trim();
      options.sasl = { mechanism: "oauthbearer", oidc };
    } else if (mechanism === "GSSAPI") {
      return { kind: "error", message: `${where}: Kerberos (GSSAPI) is not supported` };
    } else {
      return {
        kind: "error",
        message: `${where}: security.protocol ${protocol.toUpperCase()} needs sasl.mechanism PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER`,
      };
    }
  }

  for (const [key, field] of [
    ["request.timeout.ms", "requestTimeout"],
    ["socket.connection.setup.timeout.ms", "connectionTimeout"],
  ] as const) {
    const value = props[key];
    if (value === undefined) continue;
    const ms = Number(value.trim());
    if (!Number.isSafeInteger(ms) || ms < 1) {
      return { kind: "error", message: `${where}: ${key} must be a positive whole number, got "${value}"` };
    }
    options[field] = ms;
  }

  const isolation = (props["isolation.level"] ?? "read_committed").trim().toLowerCase();
  return { kind: "ok", options, readCommitted: isolation !== "read_uncommitted" };
}

/** `security.protocol`, librdkafka default plaintext, lower-cased. */
function securityProtocolOf(props: Record<string, string>): string {
  return (props["security.protocol"] ?? "plaintext").trim().toLowerCase();
}

/** `sasl.mechanism` or its alias `sasl.mechanisms`, upper-cased. */
function saslMechanismOf(props: Record<string, string>): string | undefined {
  return (props["sasl.mechanism"] ?? props["sasl.mechanisms"])?.trim().toUpperCase();
}

function isTrueProperty(value: string): boolean {
  return ["true", "1", "yes", "on"].includes(value.trim().toLowerCase());
}

/** librdkafka's `sasl.oauthbearer.extensions` ("a=1,b=2") → record; undefined when malformed. */
function parseOauthExtensions(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (text.trim() === "") return out;
  for (const pair of text.split(",")) {
    const eq = pair.indexOf("=");
    const key = pair.slice(0, Math.max(eq, 0)).trim();
    if (eq <= 0 || key === "") return undefined;
    out[key] = pair.slice(eq + 1).trim();
  }
  return out;
}
