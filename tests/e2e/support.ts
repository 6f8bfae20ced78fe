/**
 * Shared pieces of the end-to-end suites: building dist/ when it is missing or older than the
 * sources, free loopback ports, running the exporter as a child process (stderr collected,
 * killed in afterAll), waiting for HTTP, and parsing the exposition.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { eventually } from "../kafka/harness.ts";

export const ROOT = resolve(import.meta.dir, "../..");
export const DIST = join(ROOT, "dist");
export const BUN = process.execPath;
export const BIN_X64 = join(DIST, "klag-exporter-linux-x64");

/** Inputs of a build: when any is newer than an output, the output is rebuilt. */
const BUILD_INPUTS = ["src", "package.json", "build.ts", "scripts/rootfs.ts", "deploy/docker/config.toml"];

function newestMtime(path: string): number {
  const p = join(ROOT, path);
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(p)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

const builds = new Map<string, Promise<void>>();
let building: Promise<void> = Promise.resolve();

/**
 * Builds the binary of `arch` (and its rootfs when asked) with build.ts unless the output is
 * newer than every source. Memoised per process; one build at a time (build.ts may run apt and
 * npm, which do not like company).
 */
export function ensureBuilt(arch: "x64" | "arm64", opts: { rootfs?: boolean } = {}): Promise<void> {
  const dockerArch = arch === "x64" ? "amd64" : "arm64";
  const binary = join(DIST, `klag-exporter-linux-${arch}`);
  const inRootfs = join(DIST, `rootfs-${dockerArch}`, "klag-exporter");
  const key = `${arch}:${opts.rootfs ? "rootfs" : "bin"}`;
  let p = builds.get(key);
  if (!p) {
    p = building.then(async () => {
      const inputs = Math.max(...BUILD_INPUTS.map(newestMtime));
      const fresh = existsSync(binary) && statSync(binary).mtimeMs > inputs;
      // The rootfs copy carries the commit time as its mtime (reproducible layers): compare contents.
      if (fresh && (!opts.rootfs || (existsSync(inRootfs) && (await sameContent(binary, inRootfs))))) return;
      const args = [BUN, "run", "build.ts", "--target", arch, ...(opts.rootfs ? [] : ["--no-rootfs"])];
      const proc = Bun.spawn(args, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
        proc.exited,
      ]);
      if (code !== 0) throw new Error(`${args.join(" ")} failed (${code}):\n${out}${err}`);
    });
    building = p.catch(() => {});
    builds.set(key, p);
  }
  return p;
}

async function sameContent(a: string, b: string): Promise<boolean> {
  if (statSync(a).size !== statSync(b).size) return false;
  const [x, y] = await Promise.all([Bun.file(a).bytes(), Bun.file(b).bytes()]);
  return Bun.hash(x) === Bun.hash(y);
}

/** A TCP port nothing listens on right now (bound and released on 127.0.0.1). */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export interface Running {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  stdout(): string;
  /** Sends SIGKILL if still running. */
  kill(): void;
}

const running = new Set<Running>();

/** Starts a command with stdout/stderr collected; `killAll()` ends whatever is left. */
export function start(cmd: string[], opts: { env?: Record<string, string | undefined>; cwd?: string } = {}): Running {
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? process.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let err = "";
  let out = "";
  const drain = async (stream: ReadableStream<Uint8Array>, onText: (t: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }));
  };
  void drain(proc.stderr, (t) => {
    err += t;
  });
  void drain(proc.stdout, (t) => {
    out += t;
  });
  const r: Running = {
    proc,
    stderr: () => err,
    stdout: () => out,
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      running.delete(r);
    },
  };
  running.add(r);
  void proc.exited.then(() => running.delete(r));
  return r;
}

export async function killAll(): Promise<void> {
  const all = [...running];
  for (const r of all) r.kill();
  await Promise.all(all.map((r) => r.proc.exited));
}

/** Polls `check` every 50 ms until it returns a value or `timeoutMs` passes. */
export function until<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return eventually(check, timeoutMs, what, 50);
}

/** GET with a short timeout; undefined when nothing answers. */
export async function get(url: string, timeoutMs = 2_000): Promise<Response | undefined> {
  try {
    return await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch {
    return undefined;
  }
}

export async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the samples of a Prometheus text exposition (comments skipped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample of `name` whose labels include `labels`, or undefined. */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = parseExposition(text).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/** A minimal exporter config for the given clusters (name → bootstrap). */
export function exporterConfig(opts: {
  port: number;
  clusters: Record<string, string>;
  pollInterval?: string;
  granularity?: "topic" | "partition";
  extra?: string;
}): string {
  const lines = [
    "[exporter]",
    `poll_interval = "${opts.pollInterval ?? "1s"}"`,
    `http_host = "127.0.0.1"`,
    `http_port = ${opts.port}`,
    `granularity = "${opts.granularity ?? "partition"}"`,
    opts.extra ?? "",
  ];
  for (const [name, bootstrap] of Object.entries(opts.clusters)) {
    lines.push("", "[[clusters]]", `name = "${name}"`, `bootstrap_servers = "${bootstrap}"`);
  }
  return `${lines.join("\n")}\n`;
}
