/**
 * Messages between the daemon and its HTTP worker thread (src/http/serve-worker.ts). Plain data
 * only: they cross threads by structured clone (the exposition text, in a SharedArrayBuffer,
 * is shared rather than copied).
 */
import type { HttpServerConfig } from "../config/types.ts";
import type { ExpositionSnapshot } from "../metrics/exposition-cache.ts";
import type { StatusView } from "./status-page.ts";

/** What the routes answer besides /metrics, computed by the daemon whenever it may change. */
export interface HttpState {
  health: { ok: boolean; reason: string };
  readiness: { ready: boolean; reason: string };
  isLeader: boolean;
  status: StatusView;
}

export type ToWorker =
  | {
      kind: "start";
      host: string;
      port: number;
      http: HttpServerConfig | undefined;
      /** /health turns 503 when the daemon has sent no state for this long (its thread is stuck). */
      silenceLimitMs: number;
      state: HttpState;
      exposition: ExpositionSnapshot;
    }
  | { kind: "state"; state: HttpState }
  | { kind: "exposition"; exposition: ExpositionSnapshot; state: HttpState }
  | { kind: "stop" };

export type FromWorker = { kind: "listening"; url: string } | { kind: "failed"; message: string } | { kind: "stopped" };
