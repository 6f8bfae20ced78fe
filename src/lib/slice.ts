/**
 * Cooperative slicing for long synchronous work (lag over thousands of groups, writing and
 * rendering 100k series). The work is a generator that yields at safe points; `drain` runs it
 * at once, `runSliced` runs it in slices of about `budgetMs` and lets the event loop serve
 * pending I/O (scrapes) in between, so no single slice blocks a scrape for long.
 */

/** Work that yields (no value) at points where pausing is safe and returns its result at the end. */
export type Steps<T> = Generator<void, T, void>;

/** Slice length: long enough that the pauses cost little, short enough that a scrape barely waits. */
export const DEFAULT_SLICE_MS = 4;

/** Runs `steps` to the end without pausing. */
export function drain<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Runs `steps`, pausing for the event loop whenever a slice has run `budgetMs` or more. */
export async function runSliced<T>(steps: Steps<T>, budgetMs = DEFAULT_SLICE_MS): Promise<T> {
  let sliceStart = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (performance.now() - sliceStart >= budgetMs) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
}

/** Resolves after the event loop has polled for I/O once (timers and sockets get their turn). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
