/**
 * kafkajs' request queue arms a timer with a negative delay when nothing is throttled, which
 * the runtime reports as a TimeoutNegativeWarning on stderr at every start. A negative delay
 * already means "as soon as possible", so clamping it to 0 changes no behaviour and keeps
 * stderr for real problems. Imports nothing of ours.
 */
const originalSetTimeout = globalThis.setTimeout;
const clamped = ((handler: (...a: unknown[]) => void, timeout?: number, ...args: unknown[]) =>
  originalSetTimeout(handler, typeof timeout === "number" && timeout < 0 ? 0 : timeout, ...args)) as typeof setTimeout;
globalThis.setTimeout = Object.assign(clamped, originalSetTimeout);
