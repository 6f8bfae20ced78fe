import { describe, expect, test } from "bun:test";
import { drain, runSliced, type Steps } from "../../src/lib/slice.ts";

/** Steps that each busy-wait `stepMs` (the kind of work slicing exists for) and count themselves. */
function* busy(steps: number, stepMs: number, log: string[]): Steps<number> {
  for (let i = 0; i < steps; i++) {
    const until = performance.now() + stepMs;
    while (performance.now() < until);
    log.push("step");
    yield;
  }
  return steps;
}

describe("runSliced", () => {
  test("lets timers and I/O callbacks run between slices and returns the steps' result", async () => {
    const log: string[] = [];
    const timer = setInterval(() => log.push("timer"), 1);
    const result = await runSliced(busy(40, 1, log), 4);
    clearInterval(timer);
    expect(result).toBe(40);
    const firstTimer = log.indexOf("timer");
    const lastStep = log.lastIndexOf("step");
    // The interval ran while the work was still going, not only after it.
    expect(firstTimer).toBeGreaterThan(-1);
    expect(firstTimer).toBeLessThan(lastStep);
  });

  test("drain runs everything at once: nothing else runs in between", async () => {
    const log: string[] = [];
    const timer = setInterval(() => log.push("timer"), 1);
    expect(drain(busy(20, 1, log))).toBe(20);
    clearInterval(timer);
    expect(log.filter((x) => x === "timer")).toEqual([]);
  });
});
