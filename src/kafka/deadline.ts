/**
 * Time bounds for Kafka calls: a deadline shared by the steps of one public call, and a
 * promise race that turns "no answer in time" into a typed timeout error.
 */

/** A promise did not settle in time. `what` names the step ("ListOffsets to broker 2"). */
export class KafkaTimeoutError extends Error {
  override readonly name = "KafkaTimeoutError";
}

/** The absolute end of one public call; each step takes the remaining time. */
export class Deadline {
  private readonly endMs: number;

  constructor(
    timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.endMs = now() + timeoutMs;
  }

  /** Milliseconds left, never negative. */
  remainingMs(): number {
    return Math.max(0, this.endMs - this.now());
  }

  expired(): boolean {
    return this.remainingMs() <= 0;
  }
}

/**
 * Settles like `promise`, or rejects with KafkaTimeoutError after `ms`. The timer is cleared
 * when the promise settles, so nothing keeps the event loop alive afterwards. The losing
 * promise keeps running; its result (or rejection) is dropped.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  if (ms <= 0) {
    promise.catch(() => {});
    return Promise.reject(new KafkaTimeoutError(`${what}: no time left`));
  }
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      promise.catch(() => {});
      reject(new KafkaTimeoutError(`${what}: timed out after ${ms} ms`));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
