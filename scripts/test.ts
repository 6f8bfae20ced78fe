/**
 * The full test suite, as CI runs it: starts the shared 1-node and 3-node Kafka clusters once,
 * runs `bun test` over everything with a JUnit report, prints `N passed, N failed, N skipped`
 * computed from that report, stops the clusters and exits non-zero on any failure.
 * Usage: bun run scripts/test.ts [bun test args…]
 */
import { mkdirSync, rmSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const cacheDir = `${root}/.cache`;
const clusters = [
  { brokers: 1, dir: `${cacheDir}/ci-kafka-1` },
  { brokers: 3, dir: `${cacheDir}/ci-kafka-3` },
];
const junitPath = `${cacheDir}/junit.xml`;
mkdirSync(cacheDir, { recursive: true });

function stopClusters(): void {
  for (const c of clusters) Bun.spawnSync(["bash", `${root}/scripts/kafka/cluster.sh`, "stop", c.dir]);
}

async function startCluster(brokers: number, dir: string): Promise<string> {
  const proc = Bun.spawn(["bash", `${root}/scripts/kafka/cluster.sh`, "start", dir, String(brokers)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`could not start the ${brokers}-node Kafka cluster`);
  return out.trim().split("\n").pop() ?? "";
}

/** Counts testcases in a JUnit report: failures/errors, skipped, the rest passed. */
export function countJUnit(xml: string): { passed: number; failed: number; skipped: number } {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const re = /<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const body = m[2] ?? "";
    if (/<(failure|error)\b/.test(body)) failed++;
    else if (/<skipped\b/.test(body)) skipped++;
    else passed++;
  }
  return { passed, failed, skipped };
}

async function main(): Promise<number> {
  process.on("SIGINT", () => {
    stopClusters();
    process.exit(130);
  });
  const started = Date.now();
  let bootstraps: string[];
  try {
    bootstraps = await Promise.all(clusters.map((c) => startCluster(c.brokers, c.dir)));
  } catch (error) {
    console.error(String(error));
    stopClusters();
    console.log("0 passed, 1 failed");
    return 1;
  }
  const lib = (await Bun.file(`${clusters[0]!.dir}/lib`).text()).trim();
  console.error(`kafka clusters ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${bootstraps.join(" | ")}`);
  rmSync(junitPath, { force: true });
  const args = process.argv.slice(2);
  const proc = Bun.spawn(
    [process.execPath, "test", "--timeout", "180000", "--reporter=junit", `--reporter-outfile=${junitPath}`, ...args],
    {
      cwd: root,
      stdout: "inherit",
      stderr: "inherit",
      env: {
        ...process.env,
        KLAG_TEST_BOOTSTRAP_1: bootstraps[0],
        KLAG_TEST_BOOTSTRAP_3: bootstraps[1],
        KLAG_KAFKA_LIB: lib,
      },
    },
  );
  const code = await proc.exited;
  stopClusters();
  const file = Bun.file(junitPath);
  const counts = (await file.exists()) ? countJUnit(await file.text()) : { passed: 0, failed: 1, skipped: 0 };
  // A crashed runner with a green report must still fail.
  if (code !== 0 && counts.failed === 0) counts.failed = 1;
  console.error(`suite finished in ${((Date.now() - started) / 1000).toFixed(1)} s (bun test exit ${code})`);
  console.log(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  return counts.failed > 0 || code !== 0 ? 1 : 0;
}

if (import.meta.main) process.exit(await main());
