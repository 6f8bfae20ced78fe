/**
 * A real OTLP/gRPC metrics receiver for tests: a grpc-js server with the OTLP metrics service
 * (tests/otlp/proto) on a loopback port, optional TLS, that records every request (points,
 * resource, metadata) and can be stopped, restarted on the same port, or made slow.
 */
import { resolve } from "node:path";
import {
  type Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type sendUnaryData,
  type status,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

const PROTO_ROOT = resolve(import.meta.dir, "proto");
const SERVICE_PROTO = "opentelemetry/proto/collector/metrics/v1/metrics_service.proto";

export interface ReceiverTls {
  /** PEM server certificate chain and key. */
  cert: Buffer;
  key: Buffer;
  /** PEM CA for client certificates; with `requireClientCert`, clients without one are refused. */
  clientCa?: Buffer;
  requireClientCert?: boolean;
}

export interface ReceiverOptions {
  /** 0 (default) picks a free port on the first start; restarts reuse the same port. */
  port?: number;
  tls?: ReceiverTls;
  /** Largest request accepted, bytes; default 4 MiB like grpc and the OpenTelemetry Collector. */
  maxReceiveMessageBytes?: number;
  /** false: a sink that records request sizes and metadata only (no protobuf decoding); default true. */
  decode?: boolean;
}

export interface ReceivedPoint {
  metric: string;
  description: string;
  unit: string;
  kind: "gauge" | "sum" | "other";
  temporality?: string;
  monotonic?: boolean;
  /** Attribute values as strings; `attributeTypes` says which AnyValue kind each one had. */
  attributes: Record<string, string>;
  attributeTypes: Record<string, string>;
  value: number;
  valueType: "double" | "int" | "none";
  startTimeUnixNano: string;
  timeUnixNano: string;
}

export interface ReceivedRequest {
  receivedAtMs: number;
  bytes: number;
  metadata: Record<string, string[]>;
  resource: Record<string, string>;
  scopes: { name: string; version: string }[];
  points: ReceivedPoint[];
}

export interface OtlpReceiver {
  readonly port: number;
  /** `http://127.0.0.1:port`, or `https://…` with TLS. */
  readonly endpoint: string;
  readonly requests: readonly ReceivedRequest[];
  /** Export calls that reached the handler (answered or not yet), since the last `clear()`. */
  readonly arrivals: number;
  /** Whether the server is listening. */
  readonly running: boolean;
  /** Answers after `ms` (a slow collector); 0 = at once. */
  setDelay(ms: number): void;
  /** Answers every request with this gRPC status instead of OK (undefined = OK). */
  setFailure(code: status | undefined): void;
  clear(): void;
  /** Points grouped by collection (their `time_unix_nano`), oldest first. */
  collections(): ReceivedPoint[][];
  /** Resolves with the first collection (grouped as in `collections()`) matching `pred`, polling. */
  waitForCollection(pred: (points: ReceivedPoint[]) => boolean, timeoutMs?: number): Promise<ReceivedPoint[]>;
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface KeyValueMsg {
  key?: string;
  value?: { value?: string; [k: string]: unknown };
}
interface NumberPointMsg {
  attributes?: KeyValueMsg[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  asDouble?: number;
  asInt?: string;
  value?: string;
}
interface MetricMsg {
  name?: string;
  description?: string;
  unit?: string;
  data?: string;
  gauge?: { dataPoints?: NumberPointMsg[] };
  sum?: { dataPoints?: NumberPointMsg[]; aggregationTemporality?: string; isMonotonic?: boolean };
}
interface ExportRequestMsg {
  resourceMetrics?: {
    resource?: { attributes?: KeyValueMsg[] };
    scopeMetrics?: { scope?: { name?: string; version?: string }; metrics?: MetricMsg[] }[];
  }[];
}

type ServiceDef = Parameters<Server["addService"]>[0];

function loadService(): ServiceDef {
  const pkg = loadSync(SERVICE_PROTO, {
    includeDirs: [PROTO_ROOT],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const def = pkg["opentelemetry.proto.collector.metrics.v1.MetricsService"];
  if (def === undefined || !("Export" in def)) throw new Error("MetricsService not found in the test protos");
  return def as unknown as ServiceDef;
}

function anyValueText(v: KeyValueMsg["value"]): [string, string] {
  if (v === undefined || v.value === undefined) return ["", "empty"];
  const kind = v.value;
  const raw = v[kind];
  return [typeof raw === "string" ? raw : JSON.stringify(raw), kind];
}

function attributesOf(kvs: KeyValueMsg[] | undefined): [Record<string, string>, Record<string, string>] {
  const values: Record<string, string> = {};
  const types: Record<string, string> = {};
  for (const kv of kvs ?? []) {
    const [text, kind] = anyValueText(kv.value);
    values[kv.key ?? ""] = text;
    types[kv.key ?? ""] = kind;
  }
  return [values, types];
}

function flatten(req: ExportRequestMsg, metadata: Metadata, bytes: number): ReceivedRequest {
  const out: ReceivedRequest = {
    receivedAtMs: Date.now(),
    bytes,
    metadata: {},
    resource: {},
    scopes: [],
    points: [],
  };
  for (const [k, v] of Object.entries(metadata.toJSON())) out.metadata[k] = v.map(String);
  for (const rm of req.resourceMetrics ?? []) {
    Object.assign(out.resource, attributesOf(rm.resource?.attributes)[0]);
    for (const sm of rm.scopeMetrics ?? []) {
      out.scopes.push({ name: sm.scope?.name ?? "", version: sm.scope?.version ?? "" });
      for (const m of sm.metrics ?? []) {
        const kind = m.gauge ? "gauge" : m.sum ? "sum" : "other";
        const points = m.gauge?.dataPoints ?? m.sum?.dataPoints ?? [];
        for (const p of points) {
          const [attributes, attributeTypes] = attributesOf(p.attributes);
          const point: ReceivedPoint = {
            metric: m.name ?? "",
            description: m.description ?? "",
            unit: m.unit ?? "",
            kind,
            attributes,
            attributeTypes,
            value: p.value === "asInt" ? Number(p.asInt) : (p.asDouble ?? Number.NaN),
            valueType: p.value === "asInt" ? "int" : p.value === "asDouble" ? "double" : "none",
            startTimeUnixNano: p.startTimeUnixNano ?? "0",
            timeUnixNano: p.timeUnixNano ?? "0",
          };
          if (m.sum) {
            point.temporality = m.sum.aggregationTemporality ?? "AGGREGATION_TEMPORALITY_UNSPECIFIED";
            point.monotonic = m.sum.isMonotonic ?? false;
          }
          out.points.push(point);
        }
      }
    }
  }
  return out;
}

export async function startReceiver(opts: ReceiverOptions = {}): Promise<OtlpReceiver> {
  const base = loadService();
  const requests: ReceivedRequest[] = [];
  let delayMs = 0;
  let arrivals = 0;
  /** Points by collection (time_unix_nano), kept as requests arrive. */
  const byTime = new Map<string, ReceivedPoint[]>();
  let failure: status | undefined;
  let server: Server | undefined;
  let port = opts.port ?? 0;
  const pendingTimers = new Set<ReturnType<typeof setTimeout>>();

  // Wrap the decoder to learn each request's size on the wire (after decompression).
  const exportDef = (base as unknown as Record<string, { requestDeserialize: (b: Buffer) => unknown }>).Export!;
  let lastBytes = 0;
  const service = {
    ...base,
    Export: {
      ...exportDef,
      requestDeserialize: (b: Buffer) => {
        lastBytes = b.length;
        return opts.decode === false ? {} : exportDef.requestDeserialize(b);
      },
    },
  } as unknown as ServiceDef;

  const handlers = {
    Export(call: ServerUnaryCall<ExportRequestMsg, unknown>, callback: sendUnaryData<unknown>) {
      arrivals++;
      const bytes = lastBytes;
      const answer = () => {
        if (failure !== undefined) {
          callback({ code: failure, details: "test receiver refuses this export" });
          return;
        }
        const request = flatten(call.request, call.metadata, bytes);
        requests.push(request);
        for (const point of request.points) {
          let list = byTime.get(point.timeUnixNano);
          if (!list) {
            list = [];
            byTime.set(point.timeUnixNano, list);
          }
          list.push(point);
        }
        callback(null, {});
      };
      if (delayMs <= 0) answer();
      else {
        const t = setTimeout(() => {
          pendingTimers.delete(t);
          answer();
        }, delayMs);
        pendingTimers.add(t);
      }
    },
  };

  const credentials = () =>
    opts.tls
      ? ServerCredentials.createSsl(
          opts.tls.clientCa ?? null,
          [{ private_key: opts.tls.key, cert_chain: opts.tls.cert }],
          opts.tls.requireClientCert ?? false,
        )
      : ServerCredentials.createInsecure();

  const receiver: OtlpReceiver = {
    get port() {
      return port;
    },
    get endpoint() {
      return `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`;
    },
    requests,
    get arrivals() {
      return arrivals;
    },
    get running() {
      return server !== undefined;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    setFailure(code) {
      failure = code;
    },
    clear() {
      requests.length = 0;
      byTime.clear();
      arrivals = 0;
    },
    collections() {
      return [...byTime.entries()].sort(([a], [b]) => (BigInt(a) < BigInt(b) ? -1 : 1)).map(([, v]) => v);
    },
    async waitForCollection(pred, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const found = receiver.collections().find(pred);
        if (found) return found;
        await Bun.sleep(25);
      }
      throw new Error(`no matching collection within ${timeoutMs} ms (${requests.length} requests received)`);
    },
    async waitForRequests(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < count) {
        if (Date.now() > deadline) throw new Error(`${requests.length} of ${count} requests within ${timeoutMs} ms`);
        await Bun.sleep(25);
      }
    },
    async start() {
      if (server) return;
      const s = new Server({
        "grpc.max_receive_message_length": opts.maxReceiveMessageBytes ?? 4 * 1024 * 1024,
      });
      s.addService(service, handlers);
      port = await new Promise<number>((ok, fail) =>
        s.bindAsync(`127.0.0.1:${port}`, credentials(), (err, bound) => (err ? fail(err) : ok(bound))),
      );
      server = s;
    },
    async stop() {
      const s = server;
      if (!s) return;
      server = undefined;
      for (const t of pendingTimers) clearTimeout(t);
      pendingTimers.clear();
      s.forceShutdown();
    },
  };
  await receiver.start();
  return receiver;
}
