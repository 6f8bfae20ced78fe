/**
 * Group descriptions, batched per coordinator: DescribeGroups for classic groups (member
 * assignments decoded from ConsumerProtocol bytes) and ConsumerGroupDescribe (API 69) for
 * KIP-848 groups. A group asked with the wrong API (its type unknown or changed) is asked
 * again with the other one; a group neither API knows is Dead with no members.
 */
import type { GroupDescription, GroupMember, GroupState, Outcome } from "../core/types.ts";
import { GROUP_STATES } from "../core/types.ts";
import { type EdgeContext, fail, ok } from "./context.ts";
import type { CoordinatedResult, CoordinatorRouter } from "./coordinators.ts";
import type { Deadline } from "./deadline.ts";
import { ErrorCode, errorName, isCoordinatorMoved, reasonForCode } from "./errors.ts";
import {
  CONSUMER_GROUP_DESCRIBE,
  DESCRIBE_GROUPS,
  type DescribedConsumerGroup,
  decodeConsumerAssignment,
  decodeConsumerGroupDescribeResponse,
  decodeDescribeGroupsResponse,
  encodeConsumerGroupDescribeRequest,
  encodeDescribeGroupsRequest,
} from "./protocol/groups.ts";
import { pickVersion, sendRaw } from "./raw.ts";

/** A group to describe; `consumerProtocol` when ListGroups said its type is "consumer" (KIP-848). */
export interface GroupToDescribe {
  groupId: string;
  consumerProtocol: boolean;
}

/** The group is not of the kind this API describes: try the other API. */
const WRONG_KIND = "wrong_kind" as const;
type Answer = GroupDescription | typeof WRONG_KIND;

export async function describeGroupsBatched(
  ctx: EdgeContext,
  router: CoordinatorRouter,
  groups: readonly GroupToDescribe[],
  deadline: Deadline,
): Promise<Map<string, Outcome<GroupDescription>>> {
  const result = new Map<string, Outcome<GroupDescription>>();
  const classicFirst = groups.filter((g) => !g.consumerProtocol).map((g) => g.groupId);
  const consumerFirst = groups.filter((g) => g.consumerProtocol).map((g) => g.groupId);

  const [classic, consumer] = await Promise.all([
    describeClassic(ctx, router, classicFirst, deadline),
    describeConsumer(ctx, router, consumerFirst, deadline),
  ]);
  const thenConsumer = settle(classic, result);
  const thenClassic = settle(consumer, result);
  const [classic2, consumer2] = await Promise.all([
    describeClassic(ctx, router, thenClassic, deadline),
    describeConsumer(ctx, router, thenConsumer, deadline),
  ]);
  for (const g of [...settle(classic2, result), ...settle(consumer2, result)]) {
    // Neither API knows the group: it is gone (deleted, or expired since it was listed).
    result.set(g, ok({ groupId: g, state: "Dead", kind: "classic", members: [] }));
  }
  return result;
}

/** Copies final answers into `result`; returns the groups that need the other API. */
function settle(answers: Map<string, Outcome<Answer>>, result: Map<string, Outcome<GroupDescription>>): string[] {
  const other: string[] = [];
  for (const [g, a] of answers) {
    if (a.kind === "ok" && a.value === WRONG_KIND) other.push(g);
    else result.set(g, a as Outcome<GroupDescription>);
  }
  return other;
}

function describeClassic(
  ctx: EdgeContext,
  router: CoordinatorRouter,
  groupIds: readonly string[],
  deadline: Deadline,
): Promise<Map<string, Outcome<Answer>>> {
  if (groupIds.length === 0) return Promise.resolve(new Map());
  return router.onCoordinators<Answer>(groupIds, deadline, async (broker, batch) => {
    const out = new Map<string, CoordinatedResult<Answer>>();
    const version = pickVersion(broker, DESCRIBE_GROUPS.apiKey, DESCRIBE_GROUPS.minVersion, DESCRIBE_GROUPS.maxVersion);
    if (version === undefined) {
      for (const g of batch)
        out.set(g, { kind: "done", value: fail("describe_failed", "broker lacks DescribeGroups") });
      return out;
    }
    const r = await sendRaw(broker, {
      apiKey: DESCRIBE_GROUPS.apiKey,
      apiVersion: version,
      apiName: DESCRIBE_GROUPS.apiName,
      body: encodeDescribeGroupsRequest(version, batch),
      flexibleResponse: version >= 5,
      timeoutMs: deadline.remainingMs(),
    });
    let anyError = false;
    for (const d of decodeDescribeGroupsResponse(r, version)) {
      if (d.errorCode !== 0) {
        if (d.errorCode !== ErrorCode.GROUP_ID_NOT_FOUND) anyError = true;
        out.set(d.groupId, groupErrorResult("DescribeGroups", d.errorCode, d.errorMessage));
        continue;
      }
      // Before v6, a group the classic coordinator does not know (a KIP-848 group, or none) reads as Dead.
      if (d.groupState === "Dead" && d.protocolType === "" && d.members.length === 0) {
        out.set(d.groupId, { kind: "done", value: ok(WRONG_KIND) });
        continue;
      }
      const members: GroupMember[] = d.members.map((m) => ({
        memberId: m.memberId,
        clientId: m.clientId,
        host: m.clientHost,
        assignment: d.protocolType === "consumer" ? assignmentOf(ctx, d.groupId, m.memberId, m.memberAssignment) : [],
      }));
      out.set(d.groupId, {
        kind: "done",
        value: ok({ groupId: d.groupId, state: toGroupState(d.groupState), kind: "classic", members }),
      });
    }
    if (anyError) ctx.stats.error(DESCRIBE_GROUPS.apiName);
    return out;
  });
}

function describeConsumer(
  ctx: EdgeContext,
  router: CoordinatorRouter,
  groupIds: readonly string[],
  deadline: Deadline,
): Promise<Map<string, Outcome<Answer>>> {
  if (groupIds.length === 0) return Promise.resolve(new Map());
  const api = CONSUMER_GROUP_DESCRIBE;
  return router.onCoordinators<Answer>(groupIds, deadline, async (broker, batch) => {
    const out = new Map<string, CoordinatedResult<Answer>>();
    const version = pickVersion(broker, api.apiKey, api.minVersion, api.maxVersion);
    if (version === undefined) {
      // A broker without KIP-848 has no consumer-protocol groups.
      for (const g of batch) out.set(g, { kind: "done", value: ok(WRONG_KIND) });
      return out;
    }
    const r = await sendRaw(broker, {
      apiKey: api.apiKey,
      apiVersion: version,
      apiName: api.apiName,
      body: encodeConsumerGroupDescribeRequest(version, batch),
      flexibleResponse: true,
      timeoutMs: deadline.remainingMs(),
    });
    const described = decodeConsumerGroupDescribeResponse(r, version);
    let anyError = false;
    const ready: DescribedConsumerGroup[] = [];
    for (const d of described) {
      if (d.errorCode !== 0) {
        if (d.errorCode !== ErrorCode.GROUP_ID_NOT_FOUND) anyError = true;
        out.set(d.groupId, groupErrorResult("ConsumerGroupDescribe", d.errorCode, d.errorMessage));
        continue;
      }
      ready.push(d);
    }
    if (anyError) ctx.stats.error(api.apiName);
    const names = await topicNames(ctx, ready, deadline);
    for (const d of ready) {
      const members: GroupMember[] = d.members.map((m) => ({
        memberId: m.memberId,
        clientId: m.clientId,
        host: m.clientHost,
        assignment: m.assignment.flatMap((t) => {
          const topic = t.topicName !== "" ? t.topicName : names.get(t.topicId);
          if (topic === undefined) {
            ctx.log("debug", "assigned topic id unknown to metadata; partitions left unassigned", {
              cluster: ctx.clusterName,
              group: d.groupId,
              topicId: t.topicId,
            });
            return [];
          }
          return t.partitions.map((partition) => ({ topic, partition }));
        }),
      }));
      out.set(d.groupId, {
        kind: "done",
        value: ok({ groupId: d.groupId, state: toGroupState(d.groupState), kind: "consumer", members }),
      });
    }
    return out;
  });
}

/** Topic id → name for assignments that carry only an id (refreshing metadata once if one is new). */
async function topicNames(
  ctx: EdgeContext,
  groups: readonly DescribedConsumerGroup[],
  deadline: Deadline,
): Promise<Map<string, string>> {
  const ids = new Set<string>();
  for (const g of groups)
    for (const m of g.members) for (const t of m.assignment) if (t.topicName === "") ids.add(t.topicId);
  if (ids.size === 0) return new Map();
  const cached = await ctx.metadata(deadline);
  if (cached.kind === "ok" && [...ids].every((id) => cached.value.topicNamesById.has(id))) {
    return cached.value.topicNamesById;
  }
  const fresh = await ctx.metadata(deadline, { refresh: true });
  return fresh.kind === "ok" ? fresh.value.topicNamesById : new Map();
}

function assignmentOf(ctx: EdgeContext, groupId: string, memberId: string, bytes: Uint8Array) {
  try {
    return decodeConsumerAssignment(bytes).flatMap((t) =>
      t.partitions.map((partition) => ({ topic: t.topic, partition })),
    );
  } catch (error) {
    ctx.log("warn", "undecodable member assignment; its partitions are reported unassigned", {
      cluster: ctx.clusterName,
      group: groupId,
      member: memberId,
      error: String(error),
    });
    return [];
  }
}

const STATE_BY_LOWER = new Map<string, GroupState>(GROUP_STATES.map((s) => [s.toLowerCase(), s]));

/** A state name from ListGroups / DescribeGroups / ConsumerGroupDescribe → our GroupState ("Unknown" if new). */
export function toGroupState(name: string): GroupState {
  return STATE_BY_LOWER.get(name.toLowerCase()) ?? "Unknown";
}

/**
 * A per-group error of DescribeGroups / ConsumerGroupDescribe: GROUP_ID_NOT_FOUND means "ask the
 * other protocol", a moved coordinator means "look it up again", anything else fails the group.
 */
function groupErrorResult(api: string, errorCode: number, errorMessage: string | null): CoordinatedResult<Answer> {
  if (errorCode === ErrorCode.GROUP_ID_NOT_FOUND) return { kind: "done", value: ok(WRONG_KIND) };
  const message = `${api} ${errorName(errorCode)}${errorMessage ? `: ${errorMessage}` : ""}`;
  return isCoordinatorMoved(errorCode)
    ? { kind: "moved", message }
    : { kind: "done", value: fail(reasonForCode(errorCode, "describe_failed"), message) };
}
