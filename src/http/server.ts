/**
 * Bun.serve wiring: listen address, optional TLS (cert/key, client CA for mTLS) and basic auth
 * (bcrypt hashes, verified results cached so a scrape costs no bcrypt round after the first).
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

function createBasicAuth(http: HttpServerConfig): (req: Request) => Promise<Response | undefined> {
  const verified = new Map<string, boolean>();
  const unauthorized = () =>
    new Response("unauthorized\n", { status: 401, headers: { "www-authenticate": 'Basic realm="klag-exporter"' } });
  return async (req) => {
    if (http.healthWithoutAuth && new URL(req.url).pathname === "/health") return undefined;
    const header = req.headers.get("authorization") ?? "";
    if (!header.startsWith("Basic ")) return unauthorized();
    const cached = verified.get(header);
    if (cached !== undefined) return cached ? undefined : unauthorized();
    let ok = false;
    try {
      const decoded = atob(header.slice(6));
      const sep = decoded.indexOf(":");
      const user = decoded.slice(0, sep);
      const hash = sep > 0 ? http.basicAuthUsers[user] : undefined;
      ok = hash !== undefined && (await Bun.password.verify(decoded.slice(sep + 1), hash));
    } catch {
      ok = false;
    }
    // Bounded: a flood of distinct wrong credentials cannot grow memory without limit.
    if (verified.size > 1000) verified.clear();
    verified.set(header, ok);
    return ok ? undefined : unauthorized();
  };
}
