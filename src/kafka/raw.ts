/**
 * The only module that touches kafkajs internals: connections per broker (with kafkajs' TLS,
 * SASL, correlation ids and request timeouts) and raw requests whose bodies we encode and
 * whose responses we decode ourselves with `ProtocolWriter` / `ProtocolReader`.
 *
 * Stable surface for other modules (e.g. src/kafka/fetch-batches.ts):
 *   - `client.withBroker(nodeId, async (broker) => …)` (client.ts) hands out a connected
 *     `BrokerHandle` for a broker node id and turns thrown errors into an error Outcome;
 *     `client.broker(nodeId, timeoutMs)` returns one directly (throws KafkaTransportError).
 *   - `broker.versionRange(apiKey)` → the broker's {min, max} for an API (from ApiVersions).
 *   - `pickVersion(broker, apiKey, ourMin, ourMax)` → the newest version both sides speak.
 *   - `requestWriter(flexible)` → a `ProtocolWriter` that already holds the request-header
 *     tagged-field byte when `flexible` (kafkajs writes request header v1; flexible requests
 *     need header v2 = v1 + an empty tagged-field section, which we put at the start of the body).
 *   - `sendRaw(broker, { apiKey, apiVersion, apiName, body, flexibleResponse, timeoutMs? })`
 *     → a `ProtocolReader` positioned at the first response body field (for a flexible
 *     response the header's tagged fields are already skipped). Counts the request in the
 *     client's request stats. Throws `KafkaTransportError` (connection lost, timeout); the
 *     caller decides what that means.
 *
 * Example (ListGroups v4 to broker 1):
 *   const out = await client.withBroker(1, async (b) => {
 *     const body = requestWriter(true).compactArray([], () => {}).emptyTaggedFields().toBytes();
 *     const r = await sendRaw(b, { apiKey: 16, apiVersion: 4, apiName: "ListGroups", body, flexibleResponse: true });
 *     return decodeListGroupsResponse(r, 4); // protocol/groups.ts
 *   });
 */
import type { Mechanism, SASLOptions } from "kafkajs";
import { Kafka, logLevel } from "kafkajs";
import type { KafkaJsConnection } from "./connection-options.ts";
import { KafkaTimeoutError, withTimeout } from "./deadline.ts";
import { createOidcTokenProvider, oauthBearerAuthenticator } from "./oauth.ts";
import { ProtocolReader } from "./wire.ts";

export { requestWriter } from "./protocol/codec.ts";
export { ProtocolReader, ProtocolWriter } from "./wire.ts";

/** What kafkajs needs to open connections: the output of connection-options.ts. */
export type KafkaConnection = KafkaJsConnection;

export type KafkaLogLevel = "debug" | "info" | "warn" | "error";
export type KafkaLogger = (level: KafkaLogLevel, msg: string, fields: Record<string, unknown>) => void;

export interface ApiVersionRange {
  min: number;
  max: number;
}

export interface RawRequest {
  apiKey: number;
  apiVersion: number;
  /** Name used in request stats and errors ("ListOffsets"). */
  apiName: string;
  /** Request body; for a flexible request it starts with the header's empty tagged-field byte. */
  body: Uint8Array;
  /** True when the response uses header v1 (correlation id + tagged fields): every flexible API version. */
  flexibleResponse: boolean;
  /** Overrides the client's timeout for this request. */
  timeoutMs?: number;
}

/** No usable answer from a broker: the connection failed or closed, or the request timed out. */
export class KafkaTransportError extends Error {
  override readonly name = "KafkaTransportError";
  constructor(
    readonly kind: "timeout" | "connection",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Cumulative request and error counters per API name (self metrics; tests prove request counts). */
export class RequestStats {
  private readonly byApi = new Map<string, { requests: number; errors: number }>();

  request(api: string): void {
    this.entry(api).requests++;
  }

  /** A request that produced no (complete) answer: transport failure or an error code in the response. */
  error(api: string): void {
    this.entry(api).errors++;
  }

  snapshot(): { api: string; requests: number; errors: number }[] {
    return [...this.byApi.entries()]
      .map(([api, c]) => ({ api, requests: c.requests, errors: c.errors }))
      .sort((a, b) => a.api.localeCompare(b.api));
  }

  private entry(api: string): { requests: number; errors: number } {
    let e = this.byApi.get(api);
    if (e === undefined) {
      e = { requests: 0, errors: 0 };
      this.byApi.set(api, e);
    }
    return e;
  }
}

/**
 * Which brokers failed a request recently (timeout or broken connection). "Any broker" requests
 * (Metadata, FindCoordinator) avoid them for a while, so one hung broker cannot blank a cluster
 * whose other brokers answer. A later success clears the mark.
 */
export class BrokerHealth {
  private readonly suspectUntil = new Map<number, number>();
  constructor(private readonly avoidMs = 60_000) {}
  failed(nodeId: number): void {
    if (nodeId >= 0) this.suspectUntil.set(nodeId, Date.now() + this.avoidMs);
  }
  ok(nodeId: number): void {
    this.suspectUntil.delete(nodeId);
  }
  suspect(nodeId: number): boolean {
    return (this.suspectUntil.get(nodeId) ?? 0) > Date.now();
  }
}

/** A connected broker. Obtain one from `client.withBroker`; use it with `sendRaw`. */
export class BrokerHandle {
  /** @internal */
  constructor(
    /** Broker node id; -1 for a bootstrap connection whose id is not known yet. */
    readonly nodeId: number,
    readonly address: string,
    private readonly kjs: KjsBroker,
    private readonly stats: RequestStats,
    private readonly defaultTimeoutMs: number,
    private readonly health?: BrokerHealth,
  ) {}

  /** The API versions this broker supports for `apiKey`, or undefined when it lacks the API. */
  versionRange(apiKey: number): ApiVersionRange | undefined {
    const v = this.kjs.versions?.[apiKey];
    return v === undefined ? undefined : { min: v.minVersion, max: v.maxVersion };
  }

  /** @internal */
  async send(req: RawRequest): Promise<ProtocolReader> {
    const timeoutMs = req.timeoutMs ?? this.defaultTimeoutMs;
    const what = `${req.apiName} v${req.apiVersion} to broker ${this.nodeId} (${this.address})`;
    this.stats.request(req.apiName);
    const body = Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength);
    const protocolRequest: KjsProtocolRequest = {
      request: {
        apiKey: req.apiKey,
        apiVersion: req.apiVersion,
        apiName: req.apiName,
        encode: async () => new KjsEncoder().writeBuffer(body),
      },
      response: {
        decode: async (payload: Buffer) => payload,
        parse: async (payload: Buffer) => payload,
      },
      requestTimeout: timeoutMs,
      logResponseError: false,
    };
    try {
      const payload = await withTimeout(this.kjs.connectionPool.send(protocolRequest), timeoutMs, what);
      const reader = new ProtocolReader(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength));
      if (req.flexibleResponse) reader.skipTaggedFields();
      this.health?.ok(this.nodeId);
      return reader;
    } catch (error) {
      this.stats.error(req.apiName);
      const transport = toTransportError(error, what, () => this.kjs.disconnect());
      this.health?.failed(this.nodeId);
      throw transport;
    }
  }
}

/** The newest version of `apiKey` both we (ourMin..ourMax) and the broker speak, or undefined. */
export function pickVersion(broker: BrokerHandle, apiKey: number, ourMin: number, ourMax: number): number | undefined {
  const range = broker.versionRange(apiKey);
  if (range === undefined) return undefined;
  const v = Math.min(ourMax, range.max);
  return v >= Math.max(ourMin, range.min) ? v : undefined;
}

/** Sends one raw request and returns a reader at the response body. See the module header. */
export function sendRaw(broker: BrokerHandle, req: RawRequest): Promise<ProtocolReader> {
  return broker.send(req);
}

/** Broker connections of one cluster: bootstrap, then one kafkajs Broker per metadata node id. */
export interface RawCluster {
  /**
   * Any connected broker: a known one if possible, else a bootstrap server. Brokers in `avoid`
   * and brokers that failed recently are taken only when nothing else answers.
   */
  anyBroker(timeoutMs: number, avoid?: ReadonlySet<number>): Promise<BrokerHandle>;
  /** The broker with this node id, connected. Throws if unknown or unreachable. */
  broker(nodeId: number, timeoutMs: number): Promise<BrokerHandle>;
  /** Replaces the known brokers (from Metadata); changed or removed ones are disconnected. */
  setBrokers(brokers: readonly { nodeId: number; host: string; port: number; rack?: string | null }[]): void;
  knownNodeIds(): number[];
  /** Disconnects everything; bounded by `timeoutMs`; idempotent. */
  close(timeoutMs: number): Promise<void>;
}

export function createRawCluster(opts: {
  name: string;
  connection: KafkaConnection;
  timeoutMs: number;
  stats: RequestStats;
  logger: KafkaLogger;
}): RawCluster {
  const { connection, timeoutMs, stats, logger } = opts;
  const kafka = new Kafka({
    clientId: connection.clientId ?? "klag-exporter",
    brokers: connection.brokers,
    ...(connection.ssl === undefined ? {} : { ssl: connection.ssl }),
    ...(connection.sasl === undefined ? {} : { sasl: toKafkajsSasl(connection.sasl, timeoutMs) }),
    requestTimeout: connection.requestTimeout ?? timeoutMs,
    connectionTimeout: connection.connectionTimeout ?? Math.min(timeoutMs, 10_000),
    authenticationTimeout: Math.min(timeoutMs, 10_000),
    enforceRequestTimeout: true,
    retry: { retries: 0 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      const log = entry.log as { message?: string; broker?: string; error?: string };
      logger("debug", `kafkajs ${entry.namespace}: ${log.message ?? ""}`, {
        cluster: opts.name,
        ...(log.broker === undefined ? {} : { broker: log.broker }),
        ...(log.error === undefined ? {} : { error: String(log.error) }),
      });
    },
  });
  const cluster = internalCluster(kafka);

  /** A broker from metadata; its kafkajs Broker is created on first use. */
  interface Entry {
    nodeId: number;
    host: string;
    port: number;
    rack: string | null;
    ready?: Promise<{ handle: BrokerHandle; kjs: KjsBroker }>;
    kjs?: KjsBroker;
  }
  const brokers = new Map<number, Entry>();
  const health = new BrokerHealth();
  let seed: { handle: BrokerHandle; kjs: KjsBroker } | undefined;
  let closed = false;

  const makeBroker = async (nodeId: number, destination?: { host: string; port: number; rack: string | null }) => {
    let connectionPool: KjsConnectionPool;
    try {
      connectionPool = await cluster.connectionPoolBuilder.build(destination);
    } catch (error) {
      throw toTransportError(error, "bootstrap servers", async () => {});
    }
    const kjs = cluster.brokerPool.createBroker({
      connectionPool,
      logger: cluster.rootLogger,
      ...(nodeId >= 0 ? { nodeId } : {}),
      versions: null,
    });
    const handle = new BrokerHandle(
      nodeId,
      `${kjs.connectionPool.host}:${kjs.connectionPool.port}`,
      kjs,
      stats,
      timeoutMs,
      health,
    );
    return { handle, kjs };
  };

  const entryBroker = (e: Entry) => {
    e.ready ??= makeBroker(e.nodeId, { host: e.host, port: e.port, rack: e.rack }).then((b) => {
      e.kjs = b.kjs;
      return b;
    });
    return e.ready;
  };

  const connect = async (b: { handle: BrokerHandle; kjs: KjsBroker }, ms: number): Promise<BrokerHandle> => {
    if (closed) throw new KafkaTransportError("connection", "client is closed");
    if (b.kjs.isConnected()) return b.handle;
    const hadVersions = b.kjs.versions !== null;
    const what = `connect to broker ${b.handle.nodeId} (${b.handle.address})`;
    try {
      await withTimeout(b.kjs.connect(), ms, what);
    } catch (error) {
      // Our own deadline may be shorter than another caller's: leave a slow connect running.
      if (!(error instanceof KafkaTimeoutError)) void b.kjs.disconnect().catch(() => {});
      throw toTransportError(error, what, async () => {});
    } finally {
      // kafkajs sends ApiVersions on a broker's first connect; count it like our own requests.
      if (!hadVersions && b.kjs.versions !== null) stats.request("ApiVersions");
    }
    return b.handle;
  };

  const connectSeed = async (ms: number): Promise<BrokerHandle> => {
    if (seed?.kjs.isConnected()) return seed.handle;
    const end = Date.now() + ms;
    let lastError: unknown = new KafkaTransportError("timeout", `no bootstrap server reachable in ${ms} ms`);
    // connectionPoolBuilder.build() without a destination rotates through the bootstrap list.
    for (let i = 0; i < connection.brokers.length; i++) {
      const left = end - Date.now();
      if (left <= 0) break;
      if (seed !== undefined) void seed.kjs.disconnect().catch(() => {});
      seed = await makeBroker(-1);
      try {
        return await connect(seed, left);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  };

  return {
    async anyBroker(ms, avoid) {
      const end = Date.now() + ms;
      const usable = (e: Entry) => !avoid?.has(e.nodeId) && !health.suspect(e.nodeId);
      // Healthy brokers first (connected ones before new connections), suspects last.
      const known = [...brokers.values()].filter((e) => !avoid?.has(e.nodeId));
      const connected = known.find((e) => e.kjs?.isConnected() && usable(e));
      if (connected !== undefined) return (await entryBroker(connected)).handle;
      const ordered = [...shuffle(known.filter(usable)), ...shuffle(known.filter((e) => !usable(e)))];
      for (const e of ordered) {
        const left = end - Date.now();
        if (left <= 0) break;
        try {
          return await connect(await entryBroker(e), left);
        } catch {
          // try the next one, then the bootstrap servers
        }
      }
      return connectSeed(Math.max(0, end - Date.now()));
    },

    async broker(nodeId, ms) {
      const e = brokers.get(nodeId);
      if (e === undefined) throw new KafkaTransportError("connection", `broker ${nodeId} is not in the metadata`);
      return connect(await entryBroker(e), ms);
    },

    setBrokers(list) {
      const seen = new Set<number>();
      for (const { nodeId, host, port, rack = null } of list) {
        seen.add(nodeId);
        const existing = brokers.get(nodeId);
        if (existing !== undefined && existing.host === host && existing.port === port && existing.rack === rack)
          continue;
        if (existing?.ready !== undefined) void existing.ready.then((b) => b.kjs.disconnect()).catch(() => {});
        const entry: Entry = { nodeId, host, port, rack };
        if (seed !== undefined && seed.handle.address === `${host}:${port}`) {
          // Adopt the bootstrap connection: same server, no second connection.
          const adopted = seed.kjs;
          adopted.nodeId = nodeId;
          entry.kjs = adopted;
          entry.ready = Promise.resolve({
            handle: new BrokerHandle(nodeId, seed.handle.address, adopted, stats, timeoutMs, health),
            kjs: adopted,
          });
          seed = undefined;
        }
        brokers.set(nodeId, entry);
      }
      for (const [nodeId, e] of brokers) {
        if (seen.has(nodeId)) continue;
        brokers.delete(nodeId);
        if (e.ready !== undefined) void e.ready.then((b) => b.kjs.disconnect()).catch(() => {});
      }
      // A bootstrap address that is not a broker address (a load balancer, a DNS alias) is not needed any more.
      if (seed !== undefined && brokers.size > 0) {
        void seed.kjs.disconnect().catch(() => {});
        seed = undefined;
      }
    },

    knownNodeIds() {
      return [...brokers.keys()].sort((a, b) => a - b);
    },

    async close(ms) {
      closed = true;
      const pending: Promise<unknown>[] = [...brokers.values()].flatMap((e) =>
        e.ready === undefined ? [] : [e.ready.then((b) => b.kjs.disconnect())],
      );
      if (seed !== undefined) pending.push(seed.kjs.disconnect());
      brokers.clear();
      seed = undefined;
      try {
        await withTimeout(Promise.allSettled(pending), ms, "close");
      } catch {
        // Bounded: sockets that do not close in time are dropped by the runtime.
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// kafkajs internals (kafkajs 2.2.4, pinned). Everything below mirrors node_modules/kafkajs/src.

interface KjsConnectionPool {
  host: string;
  port: number;
  send(request: KjsProtocolRequest): Promise<Buffer>;
}

interface KjsBroker {
  nodeId: number | null;
  versions: Record<number, { minVersion: number; maxVersion: number }> | null;
  connectionPool: KjsConnectionPool;
  isConnected(): boolean;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
}

interface KjsProtocolRequest {
  request: { apiKey: number; apiVersion: number; apiName: string; encode: () => Promise<unknown> };
  response: { decode: (payload: Buffer) => Promise<Buffer>; parse: (payload: Buffer) => Promise<Buffer> };
  requestTimeout: number;
  logResponseError: boolean;
}

interface KjsCluster {
  rootLogger: unknown;
  connectionPoolBuilder: {
    build(destination?: { host: string; port: number; rack: string | null }): Promise<KjsConnectionPool>;
  };
  brokerPool: {
    createBroker(options: {
      connectionPool: KjsConnectionPool;
      logger: unknown;
      nodeId?: number;
      versions: null;
    }): KjsBroker;
  };
}

// biome-ignore lint/suspicious/noExplicitAny: kafkajs internals are untyped
type Any = any;

const KjsEncoder: new () => { writeBuffer(b: Buffer): unknown } = require("kafkajs/src/protocol/encoder");

/** The Cluster kafkajs builds for its producer/consumer/admin, with all connection options applied. */
function internalCluster(kafka: Kafka): KjsCluster {
  const symbol = Object.getOwnPropertySymbols(kafka).find((s) => s.description === "private:Kafka:createCluster");
  if (symbol === undefined) throw new Error("kafkajs internals changed: private:Kafka:createCluster not found");
  const cluster: Any = (kafka as Any)[symbol]({
    metadataMaxAge: 0,
    allowAutoTopicCreation: false,
    maxInFlightRequests: null,
    instrumentationEmitter: null,
  });
  if (
    typeof cluster?.connectionPoolBuilder?.build !== "function" ||
    typeof cluster?.brokerPool?.createBroker !== "function"
  ) {
    throw new Error("kafkajs internals changed: Cluster.connectionPoolBuilder / brokerPool.createBroker not found");
  }
  return cluster as KjsCluster;
}

function toKafkajsSasl(sasl: NonNullable<KafkaConnection["sasl"]>, timeoutMs: number): SASLOptions | Mechanism {
  if (sasl.mechanism === "oauthbearer") {
    // Our own SASL exchange: kafkajs' built-in OAUTHBEARER misses the broker rejecting a token.
    const provider = createOidcTokenProvider(sasl.oidc, { timeoutMs: Math.min(timeoutMs, 10_000) });
    return { mechanism: "oauthbearer", authenticationProvider: oauthBearerAuthenticator(provider) };
  }
  switch (sasl.mechanism) {
    case "plain":
      return { mechanism: "plain", username: sasl.username, password: sasl.password };
    case "scram-sha-256":
      return { mechanism: "scram-sha-256", username: sasl.username, password: sasl.password };
    case "scram-sha-512":
      return { mechanism: "scram-sha-512", username: sasl.username, password: sasl.password };
  }
}

function toTransportError(error: unknown, what: string, onClosed: () => Promise<void>): KafkaTransportError {
  if (error instanceof KafkaTransportError) return error;
  if (error instanceof KafkaTimeoutError) return new KafkaTransportError("timeout", error.message, { cause: error });
  const e = error as { name?: string; message?: string };
  if (e?.name === "KafkaJSConnectionClosedError") void onClosed().catch(() => {});
  const kind = e?.name === "KafkaJSRequestTimeoutError" || e?.name === "KafkaJSLockTimeout" ? "timeout" : "connection";
  return new KafkaTransportError(kind, `${what}: ${e?.message ?? String(error)}`, { cause: error });
}

function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
