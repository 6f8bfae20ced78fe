/**
 * The Kafka edge's public surface: the per-cluster client the daemon uses, the connection
 * options mapper, and the raw-request door for modules that speak their own protocol bodies.
 */
export {
  type BrokerFailure,
  createKafkaClusterClient,
  type KafkaClusterClient,
  type KafkaClusterClientOptions,
  type ListGroupsResult,
  type WatermarkFailure,
  type WatermarksResult,
} from "./client.ts";
export { type ConnectionResult, type KafkaJsConnection, toKafkaJsConnection } from "./connection-options.ts";
export { Deadline, KafkaTimeoutError } from "./deadline.ts";
export { ErrorCode, errorName } from "./errors.ts";
export { fetchRecordsAt } from "./fetch-batches.ts";
export {
  type ApiVersionRange,
  BrokerHandle,
  type KafkaConnection,
  type KafkaLogger,
  type KafkaLogLevel,
  KafkaTransportError,
  pickVersion,
  type RawRequest,
  RequestStats,
  requestWriter,
  sendRaw,
} from "./raw.ts";
export { ProtocolDecodeError, ProtocolReader, ProtocolWriter } from "./wire.ts";
