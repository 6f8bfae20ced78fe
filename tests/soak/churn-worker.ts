/**
 * The soak's churn, in its own process so the Kafka admin clients it uses (and the JIT code they
 * warm up) stay out of the heap the soak measures. Commands over IPC: build a fixture, delete one.
 */
import "../../src/lib/quiet-warnings.ts";
import { buildFixture3, deleteFixture3, type Fixture3, type Fixture3Options } from "../../scripts/scale-fixture-3.ts";

export type ChurnCommand =
  | { type: "build"; id: number; options: Omit<Fixture3Options, "log"> }
  | { type: "delete"; id: number; prefix: string };
export type ChurnReply = { type: "done"; id: number; groups?: string[]; error?: string };

const built = new Map<string, Fixture3>();

process.on("message", async (command: ChurnCommand) => {
  try {
    if (command.type === "build") {
      const fixture = await buildFixture3({ ...command.options, log: () => {} });
      built.set(command.options.prefix, fixture);
      process.send!({ type: "done", id: command.id, groups: fixture.groups } satisfies ChurnReply);
    } else {
      const fixture = built.get(command.prefix);
      if (fixture) await deleteFixture3(fixture);
      built.delete(command.prefix);
      process.send!({ type: "done", id: command.id } satisfies ChurnReply);
    }
  } catch (error) {
    process.send!({ type: "done", id: command.id, error: String(error) } satisfies ChurnReply);
  }
});
process.send!({ type: "done", id: 0 } satisfies ChurnReply);
