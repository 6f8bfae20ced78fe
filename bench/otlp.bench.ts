/**
 * Benchmark: RSS and CPU of a compiled process (release build settings, build.ts `compile()`)
 * holding one cluster store of 20k or 100k series, collecting every 10 s (new values, exposition
 * rendered), with OTLP export every 10 s to a loopback gRPC sink versus OTLP disabled.
 * The process is tests/otlp/fixtures/bench-child.ts; the sink is tests/otlp/receiver.ts in
 * no-decode mode (counts bytes, so the collector side costs little of the shared CPU).
 * Run: bun run bench/otlp.bench.ts   (≈4.5 min; BENCH_SECONDS per variant, default 60)
 *
 * RESULTS (AMD EPYC, 2 vCPU, 24 GB, Linux 6.18, Bun 1.4.5; the machine was shared with other
 * test runs, load average 12.8 at the start, so wall-clock figures are noisy; CPU is the child's
 * own utime+stime from /proc, RSS is VmRSS sampled every 0.5 s; 60 s measured per variant):
 *
 *   series   otlp  RSS start→end (peak) MB   CPU %   CPU s per 10 s   requests ok/failed   MB per export
 *   20000    off   91→127 (130)             0.5     0.05             -                    -
 *   20000    on    124→119 (179)            1.2     0.12             65/0                 6.7
 *   100000   off   227→226 (422)            2.1     0.21             -                    -
 *   100000   on    331→291 (400)            4.9     0.49             331/0                34.0
 *
 * Same run with the SDK's generic protobuf serializer and labels read through forEachSeries (the
 * first version of the bridge): 20k on 238→314 MB (409 peak), 0.34 s per 10 s; 100k on
 * 937→941 MB (2,624 peak), 1.72 s per 10 s.
 *
 * CONCLUSION: OTLP export costs ~0.07 s CPU per 20k-series export and ~0.3 s per 100k (3 % of a
 * core at 10 s), RSS stays within ~100 MB of the OTLP-off process and flat over time (no growth
 * across exports). Reading the rendered exposition bytes and encoding them directly is what makes
 * it cheap: 5x less CPU and 3-6x less memory than the SDK's object-per-attribute path.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { compile, targetFor } from "../build.ts";
import { startReceiver } from "../tests/otlp/receiver.ts";

const ROOT = resolve(import.meta.dir, "..");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL_MS ?? 10_000);
const SIZES = (process.env.BENCH_SIZES ?? "20000,100000").split(",").map(Number);
const CLK_TCK = 100;

interface Sample {
  tMs: number;
  cpuTicks: number;
  rssKb: number;
}

function readProc(pid: number): { cpuTicks: number; rssKb: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime + stime
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuTicks, rssKb };
  } catch {
    return undefined;
  }
}

interface Result {
  series: number;
  otlp: boolean;
  rssStartMb: number;
  rssEndMb: number;
  rssPeakMb: number;
  cpuPercent: number;
  cpuSecondsPerInterval: number;
  requests: number;
  mbPerExport: number;
  ok: number;
  failed: number;
  cycleMs: number;
}

async function measure(binary: string, series: number, endpoint: string | undefined): Promise<Result> {
  const args = [binary, String(series), String(INTERVAL_MS), ...(endpoint ? [endpoint] : [])];
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "inherit" });
  let lastLine = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) {
      const lines = decoder.decode(chunk, { stream: true }).trim().split("\n");
      lastLine = lines.at(-1) ?? lastLine;
    }
  })();
  const samples: Sample[] = [];
  const t0 = performance.now();
  // Warm-up: the first cycle and the first export (at one interval) are excluded from CPU.
  const warmupMs = INTERVAL_MS + 2_000;
  while (performance.now() - t0 < warmupMs + SECONDS * 1_000) {
    const s = readProc(proc.pid);
    if (s) samples.push({ tMs: performance.now() - t0, ...s });
    await Bun.sleep(500);
  }
  proc.kill("SIGTERM");
  await proc.exited;
  const measured = samples.filter((s) => s.tMs >= warmupMs);
  const first = measured[0]!;
  const last = measured.at(-1)!;
  const cpuSeconds = (last.cpuTicks - first.cpuTicks) / CLK_TCK;
  const wallSeconds = (last.tMs - first.tMs) / 1000;
  const info = lastLine
    ? (JSON.parse(lastLine) as { cycleMs: number; otlp: { ok: number; failed: number } | null })
    : undefined;
  return {
    series,
    otlp: endpoint !== undefined,
    rssStartMb: first.rssKb / 1024,
    rssEndMb: last.rssKb / 1024,
    rssPeakMb: Math.max(...samples.map((s) => s.rssKb)) / 1024,
    cpuPercent: (100 * cpuSeconds) / wallSeconds,
    cpuSecondsPerInterval: cpuSeconds / (wallSeconds / (INTERVAL_MS / 1000)),
    requests: 0,
    mbPerExport: 0,
    ok: info?.otlp?.ok ?? 0,
    failed: info?.otlp?.failed ?? 0,
    cycleMs: info?.cycleMs ?? 0,
  };
}

function machine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const kernel = readFileSync("/proc/version", "utf8").split(" ")[2];
  return `${cpu}, ${cpus().length} vCPU, ${(totalmem() / 2 ** 30).toFixed(0)} GB, Linux ${kernel}, Bun ${Bun.version}, load avg ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "klag-otlp-bench-"));
  const sink = await startReceiver({ decode: false });
  try {
    const arch = process.arch === "arm64" ? "arm64" : "x64";
    const binary = await compile(
      targetFor(arch),
      { targets: [arch], outDir: dir, entry: join(ROOT, "tests/otlp/fixtures/bench-child.ts"), rootfs: false },
      { version: "bench", commit: "bench" },
    );
    console.log(`machine: ${machine()}`);
    console.log(
      `each variant: ${SECONDS} s measured after a ${INTERVAL_MS / 1000 + 2} s warm-up, interval ${INTERVAL_MS / 1000} s\n`,
    );
    const results: Result[] = [];
    for (const series of SIZES) {
      for (const otlp of [false, true]) {
        sink.clear();
        const r = await measure(binary, series, otlp ? sink.endpoint : undefined);
        r.requests = sink.requests.length;
        // Every export is ceil(series / 2000) requests (the bridge's default points per request).
        const exportsSeen = sink.requests.length / Math.ceil(series / 2_000);
        const bytes = sink.requests.reduce((n, q) => n + q.bytes, 0);
        r.mbPerExport = exportsSeen > 0 ? bytes / 2 ** 20 / exportsSeen : 0;
        results.push(r);
        console.log(JSON.stringify(r));
      }
    }
    console.log(
      "\nseries   otlp  RSS start→end (peak) MB   CPU %   CPU s per 10 s   OTLP requests ok/failed   MB per export   cycle ms",
    );
    for (const r of results) {
      console.log(
        [
          String(r.series).padEnd(8),
          (r.otlp ? "on" : "off").padEnd(5),
          `${r.rssStartMb.toFixed(0)}→${r.rssEndMb.toFixed(0)} (${r.rssPeakMb.toFixed(0)})`.padEnd(24),
          r.cpuPercent.toFixed(1).padEnd(7),
          r.cpuSecondsPerInterval.toFixed(2).padEnd(16),
          (r.otlp ? `${r.ok}/${r.failed}` : "-").padEnd(25),
          (r.otlp ? r.mbPerExport.toFixed(1) : "-").padEnd(15),
          r.cycleMs.toFixed(0),
        ].join(" "),
      );
    }
  } finally {
    await sink.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
