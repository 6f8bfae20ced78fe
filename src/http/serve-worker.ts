/**
 * The HTTP worker thread: Bun.serve with the routes, serving the exposition and state the
 * daemon last sent. Collection (Kafka responses, lag over thousands of groups, rendering, the
 * daemon's garbage collections) runs on the daemon's thread and never delays a scrape here.
 */
import { createExpositionCache, type ExpositionCache } from "../metrics/exposition-cache.ts";
import { acceptsGzip, CONTENT_TYPE, negotiate } from "../metrics/prometheus-text.ts";
import { createRouter, type RouteDeps } from "./routes.ts";
import { type HttpServer, startHttpServer } from "./server.ts";
import type { FromWorker, HttpState, ToWorker } from "./worker-protocol.ts";

declare const self: Worker;

let server: HttpServer | undefined;
let cache: ExpositionCache | undefined;
let state: HttpState | undefined;
let stateAtMs = 0;
let silenceLimitMs = 60_000;

function send(message: FromWorker): void {
  self.postMessage(message);
}

const deps: RouteDeps = {
  metrics(accept, acceptEncoding) {
    const format = negotiate(accept);
    const gzip = acceptsGzip(acceptEncoding);
    return { body: cache!.current(format, gzip), contentType: CONTENT_TYPE[format], gzip };
  },
  health() {
    const silentMs = performance.now() - stateAtMs;
    if (silentMs > silenceLimitMs) {
      return { ok: false, reason: `the collector thread has not reported for ${(silentMs / 1000).toFixed(0)} s` };
    }
    return state!.health;
  },
  readiness: () => state!.readiness,
  isLeader: () => state!.isLeader,
  status: () => state!.status,
};

function setState(next: HttpState): void {
  state = next;
  stateAtMs = performance.now();
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  switch (m.kind) {
    case "start":
      silenceLimitMs = m.silenceLimitMs;
      setState(m.state);
      cache = createExpositionCache(m.exposition);
      try {
        server = startHttpServer({ host: m.host, port: m.port, handler: createRouter(deps), http: m.http });
        send({ kind: "listening", url: server.url });
      } catch (error) {
        send({ kind: "failed", message: error instanceof Error ? error.message : String(error) });
      }
      return;
    case "state":
      setState(m.state);
      return;
    case "exposition":
      cache?.set(m.exposition);
      setState(m.state);
      // This heap holds little besides the exposition, so its collector would rarely run and
      // every replaced exposition (15 MB at 100k series) would stay alive. A full collection
      // of this small heap takes about a millisecond.
      Bun.gc(true);
      return;
    case "stop":
      await server?.stop();
      server = undefined;
      send({ kind: "stopped" });
      return;
  }
};
