/**
 * Group coordinators: found in batches (FindCoordinator v4+, many keys per request; v1–v3 one
 * key per request), cached per group, forgotten on NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE
 * or an unreachable coordinator. `onCoordinators` runs a per-coordinator batch call for many
 * groups and retries once the groups whose coordinator moved.
 */
import type { Outcome } from "../core/types.ts";
import { chunk, type EdgeContext, fail, failureFromError, mapLimit, ok } from "./context.ts";
import type { Deadline } from "./deadline.ts";
import { errorName, reasonForCode } from "./errors.ts";
import {
  decodeFindCoordinatorResponse,
  encodeFindCoordinatorRequest,
  FIND_COORDINATOR,
  FIND_COORDINATOR_BATCHED_MIN_VERSION,
} from "./protocol/groups.ts";
import { type BrokerHandle, pickVersion, sendRaw } from "./raw.ts";

/** What a per-coordinator call says about one group. */
export type CoordinatedResult<T> =
  | { kind: "done"; value: Outcome<T> }
  /** The broker is not (or no longer) this group's coordinator: look it up again and retry. */
  | { kind: "moved"; message: string };

export interface CoordinatorRouter {
  /**
   * Calls `call(broker, batch)` for the groups of each coordinator, `groupBatchSize` groups at a
   * time, all coordinators in parallel. Groups whose coordinator moved (or was unreachable) are
   * retried once with a fresh lookup while the deadline allows. Every group gets an outcome.
   */
  onCoordinators<T>(
    groupIds: readonly string[],
    deadline: Deadline,
    call: (broker: BrokerHandle, batch: string[]) => Promise<Map<string, CoordinatedResult<T>>>,
  ): Promise<Map<string, Outcome<T>>>;
  /** Drops cached coordinators of groups not in `groupIds` (after a complete ListGroups). */
  retainOnly(groupIds: ReadonlySet<string>): void;
}

export function createCoordinatorRouter(ctx: EdgeContext): CoordinatorRouter {
  const cache = new Map<string, number>();
  /** Lookups in flight per group: concurrent callers (describe and offsets) share one request. */
  const inflight = new Map<string, Promise<Outcome<number>>>();

  /** Coordinator node id per group, from the cache, a lookup in flight, or FindCoordinator. */
  const find = async (groupIds: readonly string[], deadline: Deadline): Promise<Map<string, Outcome<number>>> => {
    const out = new Map<string, Outcome<number>>();
    const missing: string[] = [];
    const waiting: [string, Promise<Outcome<number>>][] = [];
    for (const g of groupIds) {
      const nodeId = cache.get(g);
      if (nodeId !== undefined) out.set(g, ok(nodeId));
      else {
        const pending = inflight.get(g);
        if (pending === undefined) missing.push(g);
        else waiting.push([g, pending]);
      }
    }
    if (missing.length > 0) {
      const lookup = lookUp(missing, deadline);
      for (const g of missing) {
        const shared = lookup.then((m) => m.get(g)!);
        shared.catch(() => {}); // rejections reach whoever awaits it; unawaited, it is not "unhandled"
        inflight.set(g, shared);
      }
      try {
        for (const [g, o] of await lookup) out.set(g, o);
      } finally {
        for (const g of missing) inflight.delete(g);
      }
    }
    for (const [g, pending] of waiting) out.set(g, await pending);
    return out;
  };

  /** FindCoordinator for `missing` (none cached or in flight); every group gets an outcome. */
  const lookUp = async (missing: readonly string[], deadline: Deadline): Promise<Map<string, Outcome<number>>> => {
    const out = new Map<string, Outcome<number>>();

    let broker: BrokerHandle;
    try {
      broker = await ctx.raw.anyBroker(deadline.remainingMs());
    } catch (error) {
      const failure = failureFromError<number>(error, "coordinator_unavailable");
      for (const g of missing) out.set(g, failure);
      return out;
    }
    const version = pickVersion(
      broker,
      FIND_COORDINATOR.apiKey,
      FIND_COORDINATOR.minVersion,
      FIND_COORDINATOR.maxVersion,
    );
    if (version === undefined) {
      for (const g of missing)
        out.set(g, fail("coordinator_unavailable", "broker does not support FindCoordinator v1+"));
      return out;
    }
    const batched = version >= FIND_COORDINATOR_BATCHED_MIN_VERSION;
    const batches = batched ? chunk(missing, ctx.groupBatchSize) : missing.map((g) => [g]);
    let unknownNode = false;
    await mapLimit(batches, batched ? 8 : 16, async (keys) => {
      try {
        const r = await sendRaw(broker, {
          apiKey: FIND_COORDINATOR.apiKey,
          apiVersion: version,
          apiName: FIND_COORDINATOR.apiName,
          body: encodeFindCoordinatorRequest(version, keys),
          flexibleResponse: version >= 3,
          timeoutMs: deadline.remainingMs(),
        });
        const results = decodeFindCoordinatorResponse(r, version, batched ? undefined : keys[0]);
        let anyError = false;
        for (const c of results) {
          if (c.errorCode !== 0) {
            anyError = true;
            const detail = c.errorMessage ? `: ${c.errorMessage}` : "";
            out.set(
              c.key,
              fail(
                reasonForCode(c.errorCode, "coordinator_unavailable"),
                `FindCoordinator ${errorName(c.errorCode)}${detail}`,
              ),
            );
            continue;
          }
          cache.set(c.key, c.nodeId);
          out.set(c.key, ok(c.nodeId));
          if (!ctx.raw.knownNodeIds().includes(c.nodeId)) unknownNode = true;
        }
        if (anyError) ctx.stats.error(FIND_COORDINATOR.apiName);
        for (const k of keys) {
          if (!out.has(k)) out.set(k, fail("coordinator_unavailable", "FindCoordinator response lacks this group"));
        }
      } catch (error) {
        const failure = failureFromError<number>(error, "coordinator_unavailable");
        for (const k of keys) out.set(k, failure);
      }
    });
    // A coordinator on a broker we have not seen yet (a broker joined): learn its address.
    if (unknownNode) await ctx.metadata(deadline, { refresh: true });
    return out;
  };

  return {
    async onCoordinators<T>(
      groupIds: readonly string[],
      deadline: Deadline,
      call: (broker: BrokerHandle, batch: string[]) => Promise<Map<string, CoordinatedResult<T>>>,
    ): Promise<Map<string, Outcome<T>>> {
      const result = new Map<string, Outcome<T>>();
      let pending = [...new Set(groupIds)];
      const lastMoved = new Map<string, string>();
      for (let attempt = 0; attempt < 2 && pending.length > 0 && !deadline.expired(); attempt++) {
        const coordinators = await find(pending, deadline);
        const byNode = new Map<number, string[]>();
        for (const g of pending) {
          const c = coordinators.get(g)!;
          if (c.kind === "error") {
            result.set(g, c);
            continue;
          }
          const list = byNode.get(c.value) ?? [];
          list.push(g);
          byNode.set(c.value, list);
        }
        const retry: string[] = [];
        const moved = (g: string, message: string) => {
          cache.delete(g);
          lastMoved.set(g, message);
          retry.push(g);
        };
        await Promise.all(
          [...byNode].map(async ([nodeId, groups]) => {
            let broker: BrokerHandle;
            try {
              broker = await ctx.raw.broker(nodeId, deadline.remainingMs());
            } catch (error) {
              const failure = failureFromError<T>(error, "coordinator_unavailable");
              for (const g of groups) moved(g, failure.kind === "error" ? failure.message : "unreachable");
              return;
            }
            await mapLimit(chunk(groups, ctx.groupBatchSize), 4, async (batch) => {
              let answers: Map<string, CoordinatedResult<T>>;
              try {
                answers = await call(broker, batch);
              } catch (error) {
                const failure = failureFromError<T>(error, "coordinator_unavailable");
                // A lost connection or timeout: the coordinator may have moved with its broker.
                for (const g of batch) {
                  if (failure.kind === "error" && failure.reason === "broker_error") moved(g, failure.message);
                  else result.set(g, failure);
                }
                return;
              }
              for (const g of batch) {
                const a = answers.get(g);
                if (a === undefined) result.set(g, fail("error", `no answer for group from broker ${nodeId}`));
                else if (a.kind === "moved") moved(g, a.message);
                else result.set(g, a.value);
              }
            });
          }),
        );
        pending = retry;
      }
      for (const g of pending) {
        result.set(
          g,
          fail(deadline.expired() ? "timeout" : "coordinator_unavailable", lastMoved.get(g) ?? "coordinator moved"),
        );
      }
      return result;
    },

    retainOnly(groupIds) {
      for (const g of cache.keys()) if (!groupIds.has(g)) cache.delete(g);
    },
  };
}
