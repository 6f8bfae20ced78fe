/**
 * Committed offsets of many groups: OffsetFetch v8 (many groups per request) batched per
 * coordinator, or one group per request (v2–v7) where a broker lacks v8. Never-committed
 * partitions (offset −1) are left out; offsets are checked to be safe integers here.
 */
import type { CommittedOffset, Outcome } from "../core/types.ts";
import { type EdgeContext, fail, mapLimit, ok } from "./context.ts";
import type { CoordinatedResult, CoordinatorRouter } from "./coordinators.ts";
import type { Deadline } from "./deadline.ts";
import { errorName, isCoordinatorMoved, reasonForCode } from "./errors.ts";
import {
  decodeOffsetFetchResponse,
  encodeOffsetFetchRequest,
  type FetchedOffsetsGroup,
  OFFSET_FETCH,
  OFFSET_FETCH_MULTI_GROUP_MIN_VERSION,
} from "./protocol/offsets.ts";
import { pickVersion, type RawRequest, sendRaw } from "./raw.ts";

export function fetchCommittedOffsetsBatched(
  ctx: EdgeContext,
  router: CoordinatorRouter,
  groupIds: readonly string[],
  deadline: Deadline,
): Promise<Map<string, Outcome<CommittedOffset[]>>> {
  return router.onCoordinators<CommittedOffset[]>(groupIds, deadline, async (broker, batch) => {
    const out = new Map<string, CoordinatedResult<CommittedOffset[]>>();
    const version = pickVersion(broker, OFFSET_FETCH.apiKey, OFFSET_FETCH.minVersion, OFFSET_FETCH.maxVersion);
    if (version === undefined) {
      for (const g of batch)
        out.set(g, { kind: "done", value: fail("offset_fetch_failed", "broker lacks OffsetFetch v2+") });
      return out;
    }
    const send = async (groups: string[]) => {
      const r = await sendRaw(broker, request(version, groups, deadline));
      return decodeOffsetFetchResponse(r, version, groups.length === 1 ? groups[0] : undefined);
    };
    const answers =
      version >= OFFSET_FETCH_MULTI_GROUP_MIN_VERSION
        ? await send(batch)
        : (await mapLimit(batch, 16, (g) => send([g]))).flat();
    let anyError = false;
    for (const a of answers) {
      const converted = toCommitted(ctx, a);
      if (converted.kind === "moved" || (converted.kind === "done" && converted.value.kind === "error"))
        anyError = true;
      out.set(a.groupId, converted);
    }
    if (anyError) ctx.stats.error(OFFSET_FETCH.apiName);
    return out;
  });
}

function request(version: number, groups: string[], deadline: Deadline): RawRequest {
  return {
    apiKey: OFFSET_FETCH.apiKey,
    apiVersion: version,
    apiName: OFFSET_FETCH.apiName,
    body: encodeOffsetFetchRequest(version, groups),
    flexibleResponse: version >= 6,
    timeoutMs: deadline.remainingMs(),
  };
}

function toCommitted(ctx: EdgeContext, g: FetchedOffsetsGroup): CoordinatedResult<CommittedOffset[]> {
  if (g.errorCode !== 0) {
    const message = `OffsetFetch ${errorName(g.errorCode)}`;
    if (isCoordinatorMoved(g.errorCode)) return { kind: "moved", message };
    return { kind: "done", value: fail(reasonForCode(g.errorCode, "offset_fetch_failed"), message) };
  }
  const offsets: CommittedOffset[] = [];
  for (const p of g.partitions) {
    if (p.errorCode !== 0) {
      ctx.log("debug", "partition error in OffsetFetch; partition left out", {
        cluster: ctx.clusterName,
        group: g.groupId,
        topic: p.topic,
        partition: p.partition,
        error: errorName(p.errorCode),
      });
      continue;
    }
    if (p.offset < 0n) continue; // never committed
    if (p.offset > BigInt(Number.MAX_SAFE_INTEGER)) {
      ctx.log("warn", "committed offset beyond 2^53; partition left out", {
        cluster: ctx.clusterName,
        group: g.groupId,
        topic: p.topic,
        partition: p.partition,
        offset: p.offset.toString(),
      });
      continue;
    }
    offsets.push({ topic: p.topic, partition: p.partition, offset: Number(p.offset) });
  }
  offsets.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
  return { kind: "done", value: ok(offsets) };
}
