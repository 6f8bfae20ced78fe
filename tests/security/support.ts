/**
 * Test support for the security suite: the secure 1-node broker (scripts/kafka/secure-cluster.sh),
 * setup through its INTERNAL listener (topics, offsets, ACLs), Kafka's own tools as the admin
 * user, a local OIDC token endpoint, Prometheus, and log capture.
 */
import { createSign } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Subprocess } from "bun";
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  type Admin,
  Kafka,
  logLevel,
  type Producer,
  ResourcePatternTypes,
} from "kafkajs";
import { createLogger, type Logger } from "../../src/lib/log.ts";
import { eventually, type GroundTruthRow, parseConsumerGroupsOutput } from "../kafka/harness.ts";

export const ROOT = resolve(import.meta.dir, "../..");
const SCRIPT = `${ROOT}/scripts/kafka/secure-cluster.sh`;

export interface SecureCluster {
  dir: string;
  lib: string;
  listeners: { internal: string; saslSsl: string; saslPlaintext: string; mtls: string; oauth: string };
  users: { admin: string; exporter: string; narrow: string };
  pki: {
    ca: string;
    rogueCa: string;
    serverCert: string;
    serverKey: string;
    clientCert: string;
    clientKey: string;
    clientKeyTraditional: string;
    clientKeyPassword: string;
    rogueClientCert: string;
    rogueClientKey: string;
  };
  oauth: { signingKey: string; kid: string; issuer: string; audience: string };
}

/**
 * Starts the secure broker in `.cache/<name>-<pid>` (one per test file and process, so concurrent
 * runs never share or stop each other's broker) and waits until it serves metadata.
 */
export async function startSecureCluster(name: string): Promise<SecureCluster> {
  const dir = `${ROOT}/.cache/${name}-${process.pid}`;
  const proc = Bun.spawn(["bash", SCRIPT, "start", dir], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`secure-cluster.sh start failed (${code}): ${err}`);
  const info = JSON.parse(out) as SecureCluster;
  const admin = await internalAdmin(info);
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const c = await admin.describeCluster();
        if (c.controller !== null) break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      await Bun.sleep(250);
    }
  } finally {
    await admin.disconnect();
  }
  return info;
}

/** Stops the broker and deletes its directory (keys, passwords, data). */
export function stopSecureCluster(info: SecureCluster | undefined): void {
  if (!info) return;
  Bun.spawnSync(["bash", SCRIPT, "stop", info.dir]);
  rmSync(info.dir, { recursive: true, force: true });
  rmSync(`${info.dir}.lock`, { force: true });
}

/** Makes only the test PKI (CA, server cert for 127.0.0.1/localhost, client cert) in `dir/pki`. */
export function makePki(dir: string): SecureCluster["pki"] {
  const proc = Bun.spawnSync(["bash", SCRIPT, "certs", dir], {
    env: { ...process.env, KLAG_CLIENT_KEY_PASSPHRASE: "unused-passphrase" },
  });
  if (proc.exitCode !== 0) throw new Error(`secure-cluster.sh certs failed: ${proc.stderr.toString()}`);
  const pki = `${dir}/pki`;
  return {
    ca: `${pki}/ca.pem`,
    rogueCa: `${pki}/rogue-ca.pem`,
    serverCert: `${pki}/server.pem`,
    serverKey: `${pki}/server.key`,
    clientCert: `${pki}/client.pem`,
    clientKey: `${pki}/client.key`,
    clientKeyTraditional: `${pki}/client-traditional.key`,
    clientKeyPassword: "unused-passphrase",
    rogueClientCert: `${pki}/rogue-client.pem`,
    rogueClientKey: `${pki}/rogue-client.key`,
  };
}

/** Admin over the unauthenticated INTERNAL listener (principal ANONYMOUS, a super user). */
export async function internalAdmin(info: SecureCluster): Promise<Admin> {
  const kafka = new Kafka({
    brokers: [info.listeners.internal],
    clientId: "klag-sec-setup",
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  return admin;
}

export async function internalProducer(info: SecureCluster): Promise<Producer> {
  const kafka = new Kafka({
    brokers: [info.listeners.internal],
    clientId: "klag-sec-setup",
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  return producer;
}

/** Creates a topic, waits for leaders, produces `perPartition` messages to every partition. */
export async function topicWithMessages(
  info: SecureCluster,
  admin: Admin,
  topic: string,
  partitions: number,
  perPartition: number,
): Promise<void> {
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
  });
  const producer = await internalProducer(info);
  try {
    const messages = [];
    for (let p = 0; p < partitions; p++) {
      for (let i = 0; i < perPartition; i++) messages.push({ partition: p, value: `m-${p}-${i}` });
    }
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

export async function commit(admin: Admin, group: string, topic: string, offsets: number[]): Promise<void> {
  await admin.setOffsets({
    groupId: group,
    topic,
    partitions: offsets.map((offset, partition) => ({ partition, offset: String(offset) })),
  });
}

export interface AclGrant {
  resource: "cluster" | "topic" | "group";
  /** Resource name or prefix; ignored for the cluster. */
  name?: string;
  prefixed?: boolean;
  operation: "describe" | "read";
}

/** Grants ALLOW ACLs to `principal` (e.g. "User:exporter") through kafkajs' CreateAcls. */
export async function grant(admin: Admin, principal: string, grants: AclGrant[]): Promise<void> {
  await admin.createAcls({
    acl: grants.map((g) => ({
      resourceType:
        g.resource === "cluster"
          ? AclResourceTypes.CLUSTER
          : g.resource === "topic"
            ? AclResourceTypes.TOPIC
            : AclResourceTypes.GROUP,
      resourceName: g.resource === "cluster" ? "kafka-cluster" : (g.name ?? "*"),
      resourcePatternType: g.prefixed ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
      principal,
      host: "*",
      operation: g.operation === "read" ? AclOperationTypes.READ : AclOperationTypes.DESCRIBE,
      permissionType: AclPermissionTypes.ALLOW,
    })),
  });
}

/** Runs an Apache Kafka tool class with the secure cluster's jars. */
export async function runTool(
  info: SecureCluster,
  mainClass: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(
    ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", `${info.lib}/*`, mainClass, ...args],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** A Java client properties file for `user` over SASL_SSL with SCRAM-SHA-512 (Kafka's own tools). */
export function adminClientProperties(info: SecureCluster, user: "admin" | "exporter" = "admin"): string {
  const path = `${info.dir}/${user}-client.properties`;
  writeFileSync(
    path,
    [
      "security.protocol=SASL_SSL",
      "sasl.mechanism=SCRAM-SHA-512",
      `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${user}" password="${info.users[user]}";`,
      "ssl.truststore.type=PEM",
      `ssl.truststore.location=${info.pki.ca}`,
      "",
    ].join("\n"),
  );
  return path;
}

/** `kafka-consumer-groups --describe --group G` as the admin user over SASL_SSL (ground truth). */
export async function consumerGroupsAsAdmin(info: SecureCluster, group: string): Promise<GroundTruthRow[]> {
  const res = await runTool(info, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", [
    "--bootstrap-server",
    info.listeners.saslSsl,
    "--command-config",
    adminClientProperties(info),
    "--describe",
    "--group",
    group,
  ]);
  if (res.code !== 0) throw new Error(`ConsumerGroupCommand failed (${res.code}): ${res.stderr}${res.stdout}`);
  return parseConsumerGroupsOutput(res.stdout);
}

/** An RS256 JWT signed with the broker's trusted key (see secure-cluster.sh). */
export function signJwt(info: SecureCluster, claims: Record<string, unknown>): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = enc({ alg: "RS256", typ: "JWT", kid: info.oauth.kid });
  const body = enc(claims);
  const sig = createSign("RSA-SHA256").update(`${head}.${body}`).sign(readFileSync(info.oauth.signingKey, "utf8"));
  return `${head}.${body}.${sig.toString("base64url")}`;
}

export interface OidcServer {
  url: string;
  /** Token requests served, by outcome. */
  issued: number;
  rejected: number;
  /** Scopes asked for, in order. */
  scopes: (string | null)[];
  stop(): void;
}

/**
 * A minimal OAuth 2.0 token endpoint (client credentials, client id/secret as HTTP basic auth or
 * form fields) on loopback, issuing JWTs for `sub = clientId` that live `lifetimeS` seconds
 * (default 300), for `audience` (default: the one the broker expects).
 */
export function startOidcServer(
  info: SecureCluster,
  clients: Record<string, string>,
  opts: { lifetimeS?: number; audience?: string } = {},
): OidcServer {
  const lifetimeS = opts.lifetimeS ?? 300;
  const state = { issued: 0, rejected: 0, scopes: [] as (string | null)[] };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      if (req.method !== "POST" || new URL(req.url).pathname !== "/token")
        return new Response("not found", { status: 404 });
      const form = new URLSearchParams(await req.text());
      let id = form.get("client_id") ?? "";
      let secret = form.get("client_secret") ?? "";
      const auth = req.headers.get("authorization") ?? "";
      if (auth.startsWith("Basic ")) {
        const decoded = Buffer.from(auth.slice(6), "base64").toString();
        const sep = decoded.indexOf(":");
        id = decodeURIComponent(decoded.slice(0, sep));
        secret = decodeURIComponent(decoded.slice(sep + 1));
      }
      if (form.get("grant_type") !== "client_credentials" || clients[id] === undefined || clients[id] !== secret) {
        state.rejected++;
        return Response.json({ error: "invalid_client" }, { status: 401 });
      }
      state.issued++;
      state.scopes.push(form.get("scope"));
      const now = Math.floor(Date.now() / 1000);
      const claims: Record<string, unknown> = {
        sub: id,
        iss: info.oauth.issuer,
        aud: opts.audience ?? info.oauth.audience,
        iat: now,
        exp: now + lifetimeS,
      };
      // No scope asked, no scope claim (Kafka refuses a token whose scope claim is empty).
      const scope = form.get("scope");
      if (scope) claims.scope = scope;
      const token = signJwt(info, claims);
      return Response.json({ access_token: token, token_type: "Bearer", expires_in: lifetimeS });
    },
  });
  return Object.assign(state, {
    url: `http://127.0.0.1:${server.port}/token`,
    stop: () => void server.stop(true),
  });
}

/** A logger that keeps every line (debug level) and also returns them as one text. */
export function capturingLogger(secrets: readonly string[] = []): { logger: Logger; lines: string[]; text(): string } {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", format: "logfmt", write: (l) => lines.push(l), secrets });
  return { logger, lines, text: () => lines.join("\n") };
}

/** Polls `check` every 200 ms until it returns a value or `timeoutMs` passes. */
export function until<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return eventually(check, timeoutMs, what, 200);
}

/** A scratch directory under .cache for one test file. */
export function scratchDir(name: string): string {
  const dir = `${ROOT}/.cache/${name}`;
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A free loopback TCP port (bind to 0, read, close). */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export interface ExporterProcess {
  proc: Subprocess<"ignore", "ignore", "pipe">;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the URL from the "listening" log line; rejects if the process exits first. */
  listening(timeoutMs?: number): Promise<string>;
  /** SIGTERM, then the exit code (SIGKILL after 10 s). */
  stop(): Promise<number>;
}

/** Runs `bun run src/main.ts ARGS` with `env` added; stderr is collected as it arrives. */
export function spawnExporter(args: string[], env: Record<string, string>): ExporterProcess {
  const proc = Bun.spawn([process.execPath, "run", `${ROOT}/src/main.ts`, ...args], {
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  let text = "";
  const decoder = new TextDecoder();
  const drained = (async () => {
    for await (const chunk of proc.stderr) text += decoder.decode(chunk, { stream: true });
  })();
  return {
    proc,
    stderr: () => text,
    async listening(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const m = /msg=listening url=(\S+)/.exec(text);
        if (m) return m[1]!.replace(/\/$/, "");
        if (proc.exitCode !== null) throw new Error(`exporter exited with ${proc.exitCode}:\n${text}`);
        await Bun.sleep(50);
      }
      throw new Error(`exporter did not log "listening" in ${timeoutMs} ms:\n${text}`);
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        const killer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
        await proc.exited;
        clearTimeout(killer);
      }
      await drained;
      return proc.exitCode ?? -1;
    },
  };
}
