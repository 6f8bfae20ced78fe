/**
 * HTTP routes as a pure `(Request) => Response` handler. Dependencies arrive as functions, so
 * the handler never sees the daemon and never calls Kafka; it never throws into Bun.serve.
 */
import { renderStatusPage, type StatusView } from "./status-page.ts";

export interface MetricsBody {
  body: Uint8Array;
  contentType: string;
  gzip: boolean;
}

export interface RouteDeps {
  /** The cached exposition for this Accept / Accept-Encoding pair (a promise while it is being compressed). */
  metrics(accept: string | null, acceptEncoding: string | null): MetricsBody | Promise<MetricsBody>;
  /** Process liveness: event loop and collector loops alive. */
  health(): { ok: boolean; reason: string };
  /** Readiness: leader and every cluster fresh. */
  readiness(): { ready: boolean; reason: string };
  isLeader(): boolean;
  status(): StatusView;
}

const TEXT = "text/plain; charset=utf-8";

export function createRouter(deps: RouteDeps): (req: Request) => Response | Promise<Response> {
  const internalError = (error: unknown) =>
    new Response(`internal error: ${error instanceof Error ? error.message : String(error)}\n`, {
      status: 500,
      headers: { "content-type": TEXT },
    });
  return (req) => {
    try {
      const res = route(req, deps);
      return res instanceof Promise ? res.catch(internalError) : res;
    } catch (error) {
      return internalError(error);
    }
  };
}

type Handler = (req: Request, deps: RouteDeps) => Response | Promise<Response>;

function route(req: Request, deps: RouteDeps): Response | Promise<Response> {
  const path = new URL(req.url).pathname;
  const handler = ROUTES[path];
  if (!handler) return new Response("not found\n", { status: 404, headers: { "content-type": TEXT } });
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { "content-type": TEXT, allow: "GET, HEAD" } });
  }
  return handler(req, deps);
}

function metricsResponse(m: MetricsBody): Response {
  const headers: Record<string, string> = { "content-type": m.contentType, vary: "Accept, Accept-Encoding" };
  if (m.gzip) headers["content-encoding"] = "gzip";
  return new Response(m.body, { status: 200, headers });
}

const ROUTES: Record<string, Handler> = {
  "/metrics": (req, deps) => {
    const m = deps.metrics(req.headers.get("accept"), req.headers.get("accept-encoding"));
    return m instanceof Promise ? m.then(metricsResponse) : metricsResponse(m);
  },
  "/health": (_req, deps) => {
    const h = deps.health();
    return new Response(h.ok ? "OK\n" : `${h.reason}\n`, {
      status: h.ok ? 200 : 503,
      headers: { "content-type": TEXT },
    });
  },
  "/ready": (_req, deps) => {
    const r = deps.readiness();
    return new Response(r.ready ? "OK\n" : `${r.reason}\n`, {
      status: r.ready ? 200 : 503,
      headers: { "content-type": TEXT },
    });
  },
  "/leader": (_req, deps) =>
    new Response(JSON.stringify({ is_leader: deps.isLeader() }), {
      status: 200,
      headers: { "content-type": "application/json" },
    }),
  "/": (_req, deps) =>
    new Response(renderStatusPage(deps.status()), {
      status: 200,
      headers: { "content-type": "text/html; charset=utf-8" },
    }),
};
