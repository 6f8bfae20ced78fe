/**
 * Bun.serve wiring: listen address, optional TLS (cert/key, client CA for mTLS) and basic auth
 * (bcrypt hashes, verified results cached so a scrape costs no bcrypt round after the first;
 * bounded bcrypt work so password guessing cannot starve collection).
 */
import type { HttpServerConfig } from "../config/types.ts";

export interface HttpServer {
  url: string;
  /** Stops accepting connections and waits for in-flight requests. */
  stop(): Promise<void>;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  handler: (req: Request) => Response | Promise<Response>;
  http?: HttpServerConfig;
}

export function startHttpServer(opts: HttpServerOptions): HttpServer {
  const http = opts.http;
  const guard = http && Object.keys(http.basicAuthUsers).length > 0 ? createBasicAuth(http) : undefined;
  const tls =
    http?.tlsCertFile && http.tlsKeyFile
      ? {
          cert: Bun.file(http.tlsCertFile),
          key: Bun.file(http.tlsKeyFile),
          ...(http.tlsClientCaFile
            ? { ca: Bun.file(http.tlsClientCaFile), requestCert: true, rejectUnauthorized: true }
            : {}),
        }
      : undefined;
  const server = Bun.serve({
    hostname: opts.host,
    port: opts.port,
    idleTimeout: 30,
    maxRequestBodySize: 64 * 1024,
    ...(tls ? { tls } : {}),
    async fetch(req) {
      if (guard) {
        const denied = await guard(req);
        if (denied) return denied;
      }
      return opts.handler(req);
    },
    error() {
      return new Response("internal error\n", { status: 500 });
    },
  });
  return {
    url: server.url.toString(),
    async stop() {
      await server.stop(false);
    },
  };
}

/** Concurrent bcrypt verifications, and requests allowed to wait for one (the rest get 429). */
const MAX_VERIFYING = 2;
const MAX_WAITING = 16;
/** Longer Authorization headers are refused without work (bcrypt reads 72 bytes of a password). */
const MAX_HEADER_LENGTH = 1024;
/** Distinct credentials remembered as right / wrong (each set cleared when full). */
const MAX_GOOD_CACHED = 64;
const MAX_BAD_CACHED = 1024;

/**
 * Basic auth against bcrypt hashes, in the spirit of Prometheus' exporter-toolkit:
 * - a header that verified once is remembered, so scrapes cost no bcrypt round; right and wrong
 *   answers are cached apart, so a flood of wrong guesses cannot evict the scraper's entry;
 * - an unknown user costs the same bcrypt round as a known one (no user enumeration by timing);
 * - at most MAX_VERIFYING rounds run at once and MAX_WAITING wait, the rest are shed with 429, so
 *   guessing cannot eat the CPU that collection needs;
 * - every refusal is the same bare 401.
 */
function createBasicAuth(http: HttpServerConfig): (req: Request) => Promise<Response | undefined> {
  const good = new Set<string>();
  const bad = new Set<string>();
  const users = new Map(Object.entries(http.basicAuthUsers));
  // A real hash of a random password (made off the event loop): unknown users are checked against it.
  const dummyHash = Bun.password.hash(crypto.randomUUID(), { algorithm: "bcrypt", cost: costOf(users) });
  const limiter = createLimiter(MAX_VERIFYING, MAX_WAITING);
  const unauthorized = () =>
    new Response("unauthorized\n", {
      status: 401,
      headers: { "www-authenticate": 'Basic realm="klag-exporter"', "content-type": "text/plain; charset=utf-8" },
    });
  const busy = () =>
    new Response("too many authentication attempts; retry later\n", {
      status: 429,
      headers: { "retry-after": "1", "content-type": "text/plain; charset=utf-8" },
    });

  return async (req) => {
    if (http.healthWithoutAuth && new URL(req.url).pathname === "/health") return undefined;
    const header = req.headers.get("authorization") ?? "";
    if (header.length > MAX_HEADER_LENGTH || !/^basic /i.test(header)) return unauthorized();
    if (good.has(header)) return undefined;
    if (bad.has(header)) return unauthorized();
    const credentials = decodeBasic(header.slice(6).trim());
    if (credentials === undefined) return unauthorized();
    const hash = users.get(credentials.user);
    const verdict = await limiter(async () => {
      try {
        const ok = await Bun.password.verify(credentials.password, hash ?? (await dummyHash));
        return ok && hash !== undefined;
      } catch {
        return false;
      }
    });
    if (verdict === "busy") return busy();
    const target = verdict ? good : bad;
    if (target.size >= (verdict ? MAX_GOOD_CACHED : MAX_BAD_CACHED)) target.clear();
    target.add(header);
    return verdict ? undefined : unauthorized();
  };
}

/** "user:password" from base64 (UTF-8, as browsers and Prometheus send it); undefined when malformed. */
function decodeBasic(b64: string): { user: string; password: string } | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const decoded = Buffer.from(b64, "base64").toString("utf8");
  const sep = decoded.indexOf(":");
  if (sep <= 0) return undefined;
  return { user: decoded.slice(0, sep), password: decoded.slice(sep + 1) };
}

/** The bcrypt cost of the configured hashes (the highest), so the dummy check takes as long. */
function costOf(users: Map<string, string>): number {
  let cost = 4;
  for (const hash of users.values()) cost = Math.max(cost, Number(/^\$2[abxy]?\$(\d{2})\$/.exec(hash)?.[1] ?? 4));
  return Math.min(cost, 31);
}

/** Runs at most `max` tasks at once, queues up to `waiting` more, and answers "busy" beyond that. */
function createLimiter(max: number, waiting: number): <T>(task: () => Promise<T>) => Promise<T | "busy"> {
  let running = 0;
  const queue: (() => void)[] = [];
  return async (task) => {
    if (running >= max) {
      if (queue.length >= waiting) return "busy";
      await new Promise<void>((resolve) => queue.push(resolve));
    } else {
      running++;
    }
    try {
      return await task();
    } finally {
      const next = queue.shift();
      if (next) next();
      else running--;
    }
  };
}
