/**
 * The HTTP worker thread: Bun.serve with the routes, serving the exposition and state the
 * daemon last sent. Collection (Kafka responses, lag over thousands of groups, rendering, the
 * daemon's garbage collections) runs on the daemon's thread and never delays a scrape here.
 */
import { gzip as zlibGzip } from "node:zlib";
import { type Bytes, createExpositionCache, type ExpositionCache } from "../metrics/exposition-cache.ts";
import { acceptsGzip, CONTENT_TYPE, type ExpositionFormat, negotiate } from "../metrics/prometheus-text.ts";
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

/** gzip on the thread pool: a 15 MB exposition takes tens of ms to compress, none of them here. */
function gzipAsync(plain: Uint8Array, level: number): Promise<Bytes> {
  return new Promise((resolve, reject) => {
    zlibGzip(plain, { level }, (error, out) => {
      if (error) reject(error);
      else resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength) as Bytes);
    });
  });
}

/** Variants asked for recently (`format gzip` → when), built ahead of the next scrape. */
const requested = new Map<string, number>();
const WARM_FOR_MS = 10 * 60_000;

/** Builds, off this thread, what recent scrapes asked for, so the next scrape finds it ready. */
function warmVariants(): void {
  const now = performance.now();
  for (const [key, at] of requested) {
    if (now - at > WARM_FOR_MS) {
      requested.delete(key);
      continue;
    }
    const [format, gzip] = key.split(" ") as [ExpositionFormat, string];
    const built = cache?.currentAsync(format, gzip === "true");
    if (built instanceof Promise) built.catch(() => {});
  }
}

const deps: RouteDeps = {
  metrics(accept, acceptEncoding) {
    const format = negotiate(accept);
    const gzip = acceptsGzip(acceptEncoding);
    requested.set(`${format} ${gzip}`, performance.now());
    const body = cache!.currentAsync(format, gzip);
    const wrap = (bytes: Bytes) => ({ body: bytes, contentType: CONTENT_TYPE[format], gzip });
    return body instanceof Promise ? body.then(wrap) : wrap(body);
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
      cache = createExpositionCache(m.exposition, { gzipAsync });
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
      warmVariants();
      return;
    case "stop":
      await server?.stop();
      server = undefined;
      send({ kind: "stopped" });
      return;
  }
};
