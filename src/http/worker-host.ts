/**
 * Runs the HTTP server on its own thread (src/http/serve-worker.ts) and feeds it: the
 * exposition after every assembly (shared, not copied) and the route state. If the thread dies
 * it is started again on the port it had, with the latest exposition and state.
 */
import type { HttpServerConfig } from "../config/types.ts";
import type { Logger } from "../lib/log.ts";
import type { ExpositionSnapshot } from "../metrics/exposition-cache.ts";
import type { FromWorker, HttpState, ToWorker } from "./worker-protocol.ts";

export interface HttpWorker {
  /** The URL the server listens on (the real port when 0 was asked for). */
  readonly url: string;
  /** Hands a new exposition, and the state that goes with it, to the server. */
  publish(exposition: ExpositionSnapshot, state: HttpState): void;
  setState(state: HttpState): void;
  /** Stops accepting connections, waits for in-flight requests (bounded), ends the thread. */
  stop(): Promise<void>;
}

export interface HttpWorkerOptions {
  host: string;
  port: number;
  http?: HttpServerConfig;
  /** /health turns 503 when no state arrived for this long. */
  silenceLimitMs: number;
  /** The latest state and exposition, for the first start and for restarts. */
  state(): HttpState;
  exposition(): ExpositionSnapshot;
  logger: Logger;
  /** Sees every thread started (the first and each restart); for diagnostics and tests. */
  onThread?: (thread: Worker) => void;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;
const RESTART_DELAY_MS = 1_000;

/**
 * Where the worker's module is. In a `bun build --compile` binary every module lives under
 * /$bunfs/root/ and the worker is a second entry point named by its path below src/ (build.ts).
 */
function workerSpecifier(): string {
  if (import.meta.url.includes("/$bunfs/")) return "/$bunfs/root/http/serve-worker.js";
  return new URL("./serve-worker.ts", import.meta.url).href;
}

interface Running {
  worker: Worker;
  url: string;
}

/** Starts one worker and waits until it listens; rejects with the server's own error otherwise. */
function launch(opts: HttpWorkerOptions, port: number, onExit: (worker: Worker) => void): Promise<Running> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerSpecifier());
    opts.onThread?.(worker);
    let settled = false;
    let started = false;
    const timer = setTimeout(
      () => fail(new Error(`HTTP worker did not start within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    function fail(error: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      worker.terminate();
      reject(error);
    }
    worker.addEventListener("message", (event: MessageEvent<FromWorker>) => {
      const m = event.data;
      if (settled) return;
      if (m.kind === "failed") fail(new Error(m.message));
      if (m.kind === "listening") {
        settled = true;
        started = true;
        clearTimeout(timer);
        resolve({ worker, url: m.url });
      }
    });
    worker.addEventListener("error", (event) => {
      if (settled) opts.logger.error("HTTP server thread error", { error: event.message });
      else fail(new Error(`HTTP worker failed: ${event.message}`));
    });
    worker.addEventListener("close", () => {
      if (!settled) fail(new Error("HTTP worker exited during startup"));
      else if (started) onExit(worker);
    });
    const start: ToWorker = {
      kind: "start",
      host: opts.host,
      port,
      http: opts.http,
      silenceLimitMs: opts.silenceLimitMs,
      state: opts.state(),
      exposition: opts.exposition(),
    };
    worker.postMessage(start);
  });
}

export async function startHttpWorker(opts: HttpWorkerOptions): Promise<HttpWorker> {
  let stopping = false;
  let restartTimer: ReturnType<typeof setTimeout> | undefined;
  let current: Running | undefined;
  const onExit = (worker: Worker) => {
    if (stopping || worker !== current?.worker) return;
    current = undefined;
    opts.logger.error("HTTP server thread ended unexpectedly; restarting it", { delay_ms: RESTART_DELAY_MS });
    restartTimer = setTimeout(restart, RESTART_DELAY_MS);
  };
  current = await launch(opts, opts.port, onExit);
  const url = current.url;
  // A restart binds the port the first start got (an ephemeral port stays the same).
  const boundPort = Number(new URL(url).port) || opts.port;
  function restart(): void {
    restartTimer = undefined;
    if (stopping) return;
    launch(opts, boundPort, onExit).then(
      (running) => {
        if (stopping) running.worker.terminate();
        else current = running;
      },
      (error: unknown) => {
        opts.logger.error("could not restart the HTTP server thread; retrying", {
          error: error instanceof Error ? error.message : String(error),
        });
        if (!stopping) restartTimer = setTimeout(restart, RESTART_DELAY_MS * 5);
      },
    );
  }
  const post = (message: ToWorker) => current?.worker.postMessage(message);

  return {
    url,
    publish(exposition, state) {
      post({ kind: "exposition", exposition, state });
    },
    setState(state) {
      post({ kind: "state", state });
    },
    async stop() {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      const running = current;
      current = undefined;
      if (!running) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, STOP_TIMEOUT_MS);
        running.worker.addEventListener("message", (event: MessageEvent<FromWorker>) => {
          if (event.data.kind !== "stopped") return;
          clearTimeout(timer);
          resolve();
        });
        running.worker.postMessage({ kind: "stop" } satisfies ToWorker);
      });
      running.worker.terminate();
    },
  };
}
