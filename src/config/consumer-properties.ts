/**
 * `[clusters.consumer_properties]`: which librdkafka property names we honour, which we accept
 * without effect, which we refuse, and the checks on their values and combinations. Pure.
 */

import { childPath } from "./path.ts";
import { closestMatch } from "./suggest.ts";
import type { ConfigProblem } from "./types.ts";

/** Properties that change how we connect (mapped to kafkajs in src/kafka/connection-options.ts). */
export const SUPPORTED_PROPERTIES = [
  "security.protocol",
  "sasl.mechanism",
  "sasl.mechanisms",
  "sasl.username",
  "sasl.password",
  "ssl.ca.location",
  "ssl.ca.pem",
  "ssl.certificate.location",
  "ssl.certificate.pem",
  "ssl.key.location",
  "ssl.key.pem",
  "ssl.key.password",
  "enable.ssl.certificate.verification",
  "ssl.endpoint.identification.algorithm",
  "sasl.oauthbearer.method",
  "sasl.oauthbearer.client.id",
  "sasl.oauthbearer.client.secret",
  "sasl.oauthbearer.token.endpoint.url",
  "sasl.oauthbearer.scope",
  "sasl.oauthbearer.extensions",
  "client.id",
  "request.timeout.ms",
  "socket.connection.setup.timeout.ms",
  "isolation.level",
] as const;

/** Property values that are secrets: redacted when printed, never shown in messages. */
export const SECRET_PROPERTIES: ReadonlySet<string> = new Set([
  "sasl.password",
  "ssl.key.password",
  "ssl.key.pem",
  "sasl.oauthbearer.client.secret",
]);

/** librdkafka consumer/client tuning that has no counterpart here (we use no librdkafka consumer). */
const NO_EFFECT_PROPERTIES: ReadonlySet<string> = new Set([
  "group.id",
  "group.instance.id",
  "group.protocol",
  "group.remote.assignor",
  "partition.assignment.strategy",
  "enable.auto.commit",
  "auto.commit.interval.ms",
  "enable.auto.offset.store",
  "auto.offset.reset",
  "session.timeout.ms",
  "heartbeat.interval.ms",
  "max.poll.interval.ms",
  "coordinator.query.interval.ms",
  "statistics.interval.ms",
  "enable.partition.eof",
  "check.crcs",
  "allow.auto.create.topics",
  "client.rack",
  "socket.timeout.ms",
  "socket.keepalive.enable",
  "socket.nagle.disable",
  "socket.send.buffer.bytes",
  "socket.receive.buffer.bytes",
  "socket.max.fails",
  "connections.max.idle.ms",
  "broker.address.family",
  "broker.address.ttl",
  "metadata.max.age.ms",
  "topic.metadata.refresh.interval.ms",
  "topic.metadata.refresh.fast.interval.ms",
  "topic.metadata.refresh.sparse",
  "topic.metadata.propagation.max.ms",
  "reconnect.backoff.ms",
  "reconnect.backoff.max.ms",
  "retry.backoff.ms",
  "retry.backoff.max.ms",
  "api.version.request",
  "api.version.request.timeout.ms",
  "api.version.fallback.ms",
  "broker.version.fallback",
  "message.max.bytes",
  "message.copy.max.bytes",
  "receive.message.max.bytes",
  "max.in.flight.requests.per.connection",
  "max.in.flight",
  "log_level",
  "log.queue",
  "log.thread.name",
  "log.connection.close",
  "debug",
  "internal.termination.signal",
  "enable.random.seed",
  "ssl.cipher.suites",
  "ssl.curves.list",
  "ssl.sigalgs.list",
  "ssl.providers",
  "ssl_engine_callback_data",
  "sasl.oauthbearer.config",
  "enable.sasl.oauthbearer.unsecure.jwt",
  "enable.metrics.push",
  "client.dns.lookup",
]);

/** Prefixes of no-effect property families (`fetch.min.bytes`, `queued.max.messages.kbytes`, …). */
const NO_EFFECT_PREFIXES = ["fetch.", "queued.", "consume.", "topic.", "offset."];

/** Properties we refuse with a specific reason (silently ignoring them would weaken security or mislead). */
const REFUSED_PROPERTIES: Record<string, string> = {
  "bootstrap.servers": "set `bootstrap_servers` on the cluster instead",
  "metadata.broker.list": "set `bootstrap_servers` on the cluster instead",
  "ssl.keystore.location":
    "PKCS#12 keystores are not supported; convert to PEM and use ssl.certificate.location and ssl.key.location",
  "ssl.keystore.password":
    "PKCS#12 keystores are not supported; convert to PEM and use ssl.certificate.location and ssl.key.location",
  "ssl.crl.location": "certificate revocation lists are not supported",
  "ssl.engine.location": "OpenSSL engines are not supported",
  "ssl.engine.id": "OpenSSL engines are not supported",
  "ssl.ca.certificate.stores": "Windows certificate stores are not supported; use ssl.ca.location",
};

export const SECURITY_PROTOCOLS = ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];
export const SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

export interface PropertyCheck {
  problems: ConfigProblem[];
  notices: string[];
}

/** Reads `security.protocol` (librdkafka default: plaintext), lower-cased. */
export function securityProtocolOf(props: Record<string, string>): string {
  return (props["security.protocol"] ?? "plaintext").trim().toLowerCase();
}

/** Reads the SASL mechanism from `sasl.mechanism` or its alias `sasl.mechanisms`, upper-cased. */
export function saslMechanismOf(props: Record<string, string>): string | undefined {
  const value = props["sasl.mechanism"] ?? props["sasl.mechanisms"];
  return value === undefined ? undefined : value.trim().toUpperCase();
}

/**
 * Checks one cluster's consumer properties: names (supported / no effect / refused / unknown with
 * a suggestion), values, and combinations (e.g. SASL_SSL needs a mechanism and credentials).
 * `path` is the properties table's path, e.g. `clusters[0].consumer_properties`.
 */
export function checkConsumerProperties(
  props: Record<string, string>,
  path: string,
  clusterName: string,
): PropertyCheck {
  const problems: ConfigProblem[] = [];
  const notices: string[] = [];
  const at = (key: string) => childPath(path, key);
  const problem = (key: string, message: string) => problems.push({ path: at(key), message });
  const cluster = clusterName === "" ? "this cluster" : `cluster \`${clusterName}\``;

  // Names.
  const supported = new Set<string>(SUPPORTED_PROPERTIES);
  for (const key of Object.keys(props)) {
    if (supported.has(key)) continue;
    if (key.startsWith("sasl.kerberos.")) {
      problem(key, `Kerberos is not supported (${cluster}); use SCRAM, PLAIN or OAUTHBEARER`);
    } else if (REFUSED_PROPERTIES[key] !== undefined) {
      problem(key, `\`${key}\` is not supported: ${REFUSED_PROPERTIES[key]}`);
    } else if (NO_EFFECT_PROPERTIES.has(key) || NO_EFFECT_PREFIXES.some((p) => key.startsWith(p))) {
      notices.push(`${at(key)} has no effect in this implementation (librdkafka consumer tuning); it is ignored`);
    } else {
      const suggestion = closestMatch(key, SUPPORTED_PROPERTIES);
      problem(
        key,
        `unknown consumer property \`${key}\`` +
          (suggestion !== undefined
            ? `; did you mean \`${suggestion}\`?`
            : `; remove it (supported: ${SUPPORTED_PROPERTIES.join(", ")})`),
      );
    }
  }

  // Values.
  const protocol = securityProtocolOf(props);
  if (!(SECURITY_PROTOCOLS as readonly string[]).includes(protocol)) {
    problem(
      "security.protocol",
      `invalid security.protocol "${props["security.protocol"]}"; use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL`,
    );
  }
  const explicit = props["sasl.mechanism"];
  const alias = props["sasl.mechanisms"];
  if (explicit !== undefined && alias !== undefined && explicit.trim().toUpperCase() !== alias.trim().toUpperCase()) {
    problem("sasl.mechanisms", `conflicts with sasl.mechanism ("${explicit}" vs "${alias}"); set only one of them`);
  }
  const mechanism = saslMechanismOf(props);
  const mechanismKey = explicit !== undefined ? "sasl.mechanism" : "sasl.mechanisms";
  const usesSasl = protocol === "sasl_plaintext" || protocol === "sasl_ssl";
  const usesSsl = protocol === "ssl" || protocol === "sasl_ssl";

  if (mechanism === "GSSAPI") {
    problem(
      mechanismKey,
      `Kerberos (GSSAPI) is not supported (${cluster}); use SCRAM-SHA-256, SCRAM-SHA-512, PLAIN or OAUTHBEARER`,
    );
  } else if (mechanism !== undefined && !(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
    problem(
      mechanismKey,
      `invalid SASL mechanism "${mechanism}"; use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER`,
    );
  }

  const saslKeys = Object.keys(props).filter((k) => k.startsWith("sasl.") && !k.startsWith("sasl.kerberos."));
  const sslKeys = Object.keys(props).filter(
    (k) => (k.startsWith("ssl.") && REFUSED_PROPERTIES[k] === undefined) || k === "enable.ssl.certificate.verification",
  );
  const validProtocol = (SECURITY_PROTOCOLS as readonly string[]).includes(protocol);
  if (validProtocol && !usesSasl && saslKeys.length > 0) {
    notices.push(
      `${path}: ${saslKeys.join(", ")} ignored because security.protocol is ${protocol.toUpperCase()} ` +
        "(set SASL_SSL or SASL_PLAINTEXT to authenticate)",
    );
  }
  if (validProtocol && !usesSsl && sslKeys.length > 0) {
    notices.push(
      `${path}: ${sslKeys.join(", ")} ignored because security.protocol is ${protocol.toUpperCase()} ` +
        "(set SSL or SASL_SSL to use TLS)",
    );
  }

  if (usesSasl) {
    if (mechanism === undefined) {
      problem(
        "sasl.mechanism",
        `security.protocol ${protocol.toUpperCase()} needs sasl.mechanism (librdkafka's default, GSSAPI/Kerberos, ` +
          "is not supported); set PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
      );
    } else if (mechanism === "PLAIN" || mechanism === "SCRAM-SHA-256" || mechanism === "SCRAM-SHA-512") {
      for (const key of ["sasl.username", "sasl.password"]) {
        if ((props[key] ?? "") === "") problem(key, `sasl.mechanism ${mechanism} needs ${key}`);
      }
    } else if (mechanism === "OAUTHBEARER") {
      const method = (props["sasl.oauthbearer.method"] ?? "default").trim().toLowerCase();
      if (method !== "oidc") {
        problem(
          "sasl.oauthbearer.method",
          `OAUTHBEARER is supported with sasl.oauthbearer.method = "oidc" (client credentials) only; ` +
            `got "${method}"`,
        );
      } else {
        for (const key of [
          "sasl.oauthbearer.client.id",
          "sasl.oauthbearer.client.secret",
          "sasl.oauthbearer.token.endpoint.url",
        ]) {
          if ((props[key] ?? "") === "") problem(key, `sasl.oauthbearer.method oidc needs ${key}`);
        }
      }
    }
  }

  const url = props["sasl.oauthbearer.token.endpoint.url"];
  if (url !== undefined && url !== "" && !isHttpUrl(url)) {
    problem("sasl.oauthbearer.token.endpoint.url", `not an http(s) URL: "${url}"`);
  }
  const extensions = props["sasl.oauthbearer.extensions"];
  if (extensions !== undefined && parseOauthExtensions(extensions) === undefined) {
    problem(
      "sasl.oauthbearer.extensions",
      'expected "key=value" pairs separated by commas, e.g. "logicalCluster=lkc-1"',
    );
  }
  const verification = props["enable.ssl.certificate.verification"];
  if (verification !== undefined && !/^(true|false|1|0)$/i.test(verification.trim())) {
    problem("enable.ssl.certificate.verification", `expected true or false, got "${verification}"`);
  }
  const identification = props["ssl.endpoint.identification.algorithm"];
  if (identification !== undefined && !/^(none|https)$/i.test(identification.trim())) {
    problem("ssl.endpoint.identification.algorithm", `expected "https" or "none", got "${identification}"`);
  }
  const isolation = props["isolation.level"];
  if (isolation !== undefined && !/^(read_committed|read_uncommitted)$/i.test(isolation.trim())) {
    problem("isolation.level", `expected "read_committed" or "read_uncommitted", got "${isolation}"`);
  }
  for (const key of ["request.timeout.ms", "socket.connection.setup.timeout.ms"]) {
    const value = props[key];
    if (value !== undefined && !/^[1-9]\d{0,9}$/.test(value.trim())) {
      problem(key, `expected a positive whole number of milliseconds, got "${value}"`);
    }
  }
  if (props["client.id"] !== undefined && props["client.id"].trim() === "") {
    problem("client.id", "must not be empty (remove it to use the default)");
  }
  const hasCert = props["ssl.certificate.location"] !== undefined || props["ssl.certificate.pem"] !== undefined;
  const hasKey = props["ssl.key.location"] !== undefined || props["ssl.key.pem"] !== undefined;
  if (hasCert !== hasKey) {
    problem(
      hasCert ? "ssl.key.location" : "ssl.certificate.location",
      "a client certificate needs both ssl.certificate.location and ssl.key.location (or their .pem forms)",
    );
  }
  for (const [file, inline] of [
    ["ssl.ca.location", "ssl.ca.pem"],
    ["ssl.certificate.location", "ssl.certificate.pem"],
    ["ssl.key.location", "ssl.key.pem"],
  ] as const) {
    if (props[file] !== undefined && props[inline] !== undefined) problem(inline, `set either ${file} or ${inline}`);
  }

  return { problems, notices };
}

/** Parses librdkafka's `sasl.oauthbearer.extensions` ("a=1,b=2"); undefined when malformed. */
export function parseOauthExtensions(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (text.trim() === "") return out;
  for (const pair of text.split(",")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) return undefined;
    const key = pair.slice(0, eq).trim();
    if (key === "") return undefined;
    out[key] = pair.slice(eq + 1).trim();
  }
  return out;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}
