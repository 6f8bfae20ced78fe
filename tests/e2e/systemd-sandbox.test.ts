/**
 * The systemd unit's sandbox against what the release binary really does: run it under strace
 * through start-up, collection cycles against the test Kafka, scrapes (plain and gzip), SIGHUP and
 * SIGTERM, and check every system call is allowed by the unit's SystemCallFilter lines (expanded
 * with systemd-analyze), every socket is in RestrictAddressFamilies, and no file is opened for
 * writing (ProtectSystem=strict). systemd is not PID 1 here, so the unit itself cannot be started.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closeHarnessClients, commitOffsets, createTopic, kafka, produceN, uniqueName } from "../kafka/harness.ts";
import { BIN_X64, ensureBuilt, exporterConfig, freePort, get, ROOT, sampleValue, scrape, until } from "./support.ts";

const unit = readFileSync(join(ROOT, "deploy/systemd/klag-exporter.service"), "utf8");
let dir: string;
let trace = "";

const groups = new Map<string, Set<string>>();
/** A syscall group (@name) expanded to syscall names, or a single name. */
function expand(name: string): Set<string> {
  if (!name.startsWith("@")) return new Set([name]);
  const known = groups.get(name);
  if (known) return known;
  const p = Bun.spawnSync(["systemd-analyze", "syscall-filter", name], { stdout: "pipe" });
  if (p.exitCode !== 0) throw new Error(`systemd-analyze syscall-filter ${name} failed`);
  const set = new Set<string>();
  for (const raw of p.stdout.toString().split("\n").slice(1)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    for (const s of expand(line)) set.add(s);
  }
  groups.set(name, set);
  return set;
}

/** The unit's effective allow-list: allow lines united, then "~" lines removed (systemd's order rules). */
function allowedSyscalls(): Set<string> {
  const allowed = new Set<string>();
  const denied = new Set<string>();
  for (const m of unit.matchAll(/^SystemCallFilter=(~?)(.*)$/gm)) {
    for (const item of m[2]!.trim().split(/\s+/)) for (const s of expand(item)) (m[1] ? denied : allowed).add(s);
  }
  for (const s of denied) allowed.delete(s);
  return allowed;
}

beforeAll(async () => {
  if (!Bun.which("strace")) throw new Error("strace is missing: install Debian's strace package");
  if (!Bun.which("systemd-analyze")) throw new Error("systemd-analyze is missing: install Debian's systemd package");
  dir = mkdtempSync(join(tmpdir(), "klag-sandbox-"));
  const [env] = await Promise.all([kafka(1), ensureBuilt("x64")]);
  const topic = uniqueName("e2e-sandbox");
  const group = uniqueName("e2e-sandbox-group");
  await createTopic(topic, 2);
  await produceN(topic, [0, 1], 5);
  await commitOffsets(group, topic, [{ partition: 0, offset: 1 }]);

  const port = freePort();
  const config = join(dir, "config.toml");
  writeFileSync(config, exporterConfig({ port, clusters: { sandbox: env.bootstrap.join(",") } }));
  const out = join(dir, "strace.txt");
  const strace = Bun.spawn(["strace", "-f", "-qq", "-o", out, "--", BIN_X64, "--config", config], {
    stdout: "ignore",
    stderr: "pipe",
  });
  try {
    await until(
      async () => ((await get(`http://127.0.0.1:${port}/health`))?.status === 200 ? true : undefined),
      20_000,
      "/health",
    );
    await until(
      async () =>
        sampleValue(await scrape(port), "kafka_consumergroup_group_sum_lag", { cluster_name: "sandbox", group }),
      30_000,
      "a full cycle",
    );
    await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { "accept-encoding": "gzip" } }).then((r) =>
      r.arrayBuffer(),
    );
    await fetch(`http://127.0.0.1:${port}/`).then((r) => r.arrayBuffer());
    const child = Number(
      readFileSync(`/proc/${strace.pid}/task/${strace.pid}/children`, "utf8").trim().split(/\s+/)[0],
    );
    process.kill(child, "SIGHUP");
    await Bun.sleep(1_500);
    process.kill(child, "SIGTERM");
    const code = await Promise.race([strace.exited, Bun.sleep(15_000).then(() => "timeout" as const)]);
    if (code !== 0) throw new Error(`the traced exporter exited with ${code}`);
  } finally {
    if (strace.exitCode === null) strace.kill("SIGKILL");
  }
  trace = readFileSync(out, "utf8");
  await closeHarnessClients();
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the release binary inside the systemd unit's sandbox", () => {
  test("makes only system calls the unit's SystemCallFilter allows", () => {
    const used = new Set<string>();
    for (const m of trace.matchAll(/^\d+\s+([a-z0-9_]+)\(/gm)) used.add(m[1]!);
    expect(used.size).toBeGreaterThan(20);
    const allowed = allowedSyscalls();
    expect(allowed.has("setrlimit")).toBe(false); // the "~@resources" line took effect
    expect([...used].filter((s) => !allowed.has(s)).sort()).toEqual([]);
  });

  test("opens sockets only in the address families the unit allows", () => {
    const families = new Set([...trace.matchAll(/\bsocket\((AF_[A-Z0-9]+)/g)].map((m) => m[1]!));
    expect(families.size).toBeGreaterThan(0);
    const allowed = /^RestrictAddressFamilies=(.*)$/m.exec(unit)![1]!.split(/\s+/);
    expect([...families].filter((f) => !allowed.includes(f))).toEqual([]);
  });

  test("opens no file for writing (ProtectSystem=strict leaves the file system read-only)", () => {
    const writes = [...trace.matchAll(/\bopenat\([^,]+, "([^"]*)", ([^)]*)\)/g)]
      .filter((m) => /O_WRONLY|O_RDWR|O_CREAT/.test(m[2]!))
      .map((m) => m[1]!)
      .filter((p) => !p.startsWith("/dev/"));
    expect(writes).toEqual([]);
  });
});
