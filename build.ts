/**
 * Release build: standalone executables (bun build --compile: minified, bytecode, ESM, no .env or
 * bunfig autoload, version and commit stamped) for linux x64 and arm64, SHA256SUMS, and the
 * per-architecture root filesystems of the FROM-scratch image (scripts/rootfs.ts).
 * Usage: bun run build.ts [--target x64|arm64|all] [--no-rootfs] [--outdir DIR] [--entry FILE]
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import pkg from "./package.json" with { type: "json" };
import { ARCHES, assembleRootfs, commitTime, type DockerArch, elfMachine, rootfsDir } from "./scripts/rootfs.ts";

const ROOT = import.meta.dir;

export type BinaryArch = "x64" | "arm64";

export interface Target {
  arch: BinaryArch;
  /** Bun's compile target. */
  bunTarget: "bun-linux-x64" | "bun-linux-arm64";
  /** npm package holding Bun's runtime for the target. */
  npmPackage: string;
  /** The name Bun itself gives the runtime in its install cache ($BUN_INSTALL_CACHE_DIR/<name>). */
  cacheName: string;
  dockerArch: DockerArch;
}

export function targetFor(arch: BinaryArch, bunVersion = Bun.version): Target {
  const npmArch = arch === "x64" ? "x64" : "aarch64";
  return {
    arch,
    bunTarget: `bun-linux-${arch}`,
    npmPackage: `@oven/bun-linux-${npmArch}`,
    cacheName: `bun-linux-${npmArch}-v${bunVersion}`,
    dockerArch: arch === "x64" ? "amd64" : "arm64",
  };
}

export function binaryName(arch: BinaryArch): string {
  return `klag-exporter-linux-${arch}`;
}

function run(cmd: string[], cwd = ROOT): { code: number; out: string; err: string } {
  const p = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? 1, out: p.stdout.toString(), err: p.stderr.toString() };
}

/** Version (KLAG_VERSION or package.json) and commit (short hash, "-dirty" when src/ has changes). */
export function buildStamp(): { version: string; commit: string } {
  const version = process.env.KLAG_VERSION || pkg.version;
  const head = run(["git", "rev-parse", "--short=12", "HEAD"]);
  if (head.code !== 0) return { version, commit: process.env.KLAG_COMMIT || "unknown" };
  const status = run(["git", "status", "--porcelain", "--", "src", "package.json", "package-lock.json", "build.ts"]);
  const dirty = status.code === 0 && status.out.trim() !== "";
  return { version, commit: process.env.KLAG_COMMIT || `${head.out.trim()}${dirty ? "-dirty" : ""}` };
}

/**
 * Bun's runtime for a foreign target. Bun would download it into its install cache at compile time
 * ($BUN_INSTALL_CACHE_DIR or ~/.bun/install/cache, file `bun-linux-aarch64-v<version>`); we fetch it
 * once with npm into .cache/bun-runtime/ and pass it as compile.executablePath, so the build is
 * explicit and offline afterwards. The host target needs nothing: Bun embeds its own executable.
 */
export function ensureRuntime(target: Target, cacheDir = join(ROOT, ".cache/bun-runtime")): string | undefined {
  const hostArch = process.arch === "arm64" ? "arm64" : "x64";
  if (target.arch === hostArch) return undefined;
  const path = join(cacheDir, target.cacheName);
  if (existsSync(path)) return path;
  mkdirSync(cacheDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "klag-bun-runtime-"));
  try {
    const spec = `${target.npmPackage}@${Bun.version}`;
    console.error(`build: fetching ${spec} with npm (Bun's ${target.bunTarget} runtime)`);
    // npm pack checks the tarball against the registry's integrity hash.
    const pack = run(["npm", "pack", "--silent", spec], work);
    if (pack.code !== 0) throw new Error(`npm pack ${spec} failed: ${pack.err.trim()}`);
    const tgz = pack.out.trim().split("\n").pop()!;
    const untar = run(["tar", "-xzf", tgz, "package/bin/bun"], work);
    if (untar.code !== 0) throw new Error(`extracting ${tgz} failed: ${untar.err.trim()}`);
    const bin = join(work, "package/bin/bun");
    chmodSync(bin, 0o755);
    renameSync(bin, path);
    return path;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface BuildOptions {
  targets: BinaryArch[];
  outDir: string;
  entry: string;
  rootfs: boolean;
}

const HTTP_WORKER_ENTRY = join(ROOT, "src/http/serve-worker.ts");

export async function compile(target: Target, opts: BuildOptions, stamp: { version: string; commit: string }) {
  const outfile = join(opts.outDir, binaryName(target.arch));
  const executablePath = ensureRuntime(target);
  const result = await Bun.build({
    // The HTTP server runs on a worker thread; its module is a second entry point, found in the
    // binary as /$bunfs/root/http/serve-worker.js (src/http/worker-host.ts).
    entrypoints: [opts.entry, HTTP_WORKER_ENTRY],
    target: "bun",
    format: "esm",
    minify: true,
    bytecode: true,
    // @grpc/grpc-js (OTLP exporter) resolves only through its "require" export condition once
    // bundled; without it the compiled binary fails every OTLP export (docs: tech-notes).
    conditions: ["require"],
    define: {
      KLAG_BUILD_VERSION: JSON.stringify(stamp.version),
      KLAG_BUILD_COMMIT: JSON.stringify(stamp.commit),
      "process.env.NODE_ENV": JSON.stringify("production"),
    },
    compile: {
      target: target.bunTarget,
      outfile,
      autoloadDotenv: false,
      autoloadBunfig: false,
      autoloadTsconfig: false,
      autoloadPackageJson: false,
      ...(executablePath ? { executablePath } : {}),
    },
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    throw new Error(`bun build failed for ${target.bunTarget}`);
  }
  const machine = elfMachine(new Uint8Array(await Bun.file(outfile).slice(0, 64).arrayBuffer()));
  const expected = ARCHES[target.dockerArch].machine;
  if (machine !== expected) throw new Error(`${outfile}: ELF machine ${machine}, expected ${expected}`);
  return outfile;
}

/** Writes SHA256SUMS (sha256sum -c format) for every release binary present in `outDir`. */
export async function writeSums(outDir: string): Promise<string> {
  const names = readdirSync(outDir)
    .filter((n) => /^klag-exporter-linux-[a-z0-9-]+$/.test(n))
    .sort();
  const lines: string[] = [];
  for (const name of names) {
    const hash = createHash("sha256");
    for await (const chunk of Bun.file(join(outDir, name)).stream()) hash.update(chunk);
    lines.push(`${hash.digest("hex")}  ${name}`);
  }
  const path = join(outDir, "SHA256SUMS");
  await Bun.write(path, lines.map((l) => `${l}\n`).join(""));
  return path;
}

function parseArgs(argv: string[]): BuildOptions | string {
  const opts: BuildOptions = {
    targets: ["x64", "arm64"],
    outDir: join(ROOT, "dist"),
    entry: join(ROOT, "src/main.ts"),
    rootfs: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => argv[++i] ?? "";
    if (a === "--target") {
      const t = value();
      if (t === "all") opts.targets = ["x64", "arm64"];
      else if (t === "x64" || t === "arm64") opts.targets = [t];
      else return `--target: expected x64, arm64 or all, got "${t}"`;
    } else if (a === "--outdir") opts.outDir = resolve(value());
    else if (a === "--entry") opts.entry = resolve(value());
    else if (a === "--no-rootfs") opts.rootfs = false;
    else if (a === "--help" || a === "-h") return "";
    else return `unknown argument ${a}`;
  }
  return opts;
}

async function main(argv: string[]): Promise<number> {
  const opts = parseArgs(argv);
  if (typeof opts === "string") {
    if (opts) console.error(opts);
    console.error("usage: bun run build.ts [--target x64|arm64|all] [--no-rootfs] [--outdir DIR] [--entry FILE]");
    return opts ? 2 : 0;
  }
  mkdirSync(opts.outDir, { recursive: true });
  const stamp = buildStamp();
  console.error(`build: klag-exporter ${stamp.version} (commit ${stamp.commit}) with bun ${Bun.version}`);
  for (const arch of opts.targets) {
    const target = targetFor(arch);
    const started = performance.now();
    const outfile = await compile(target, opts, stamp);
    const mb = (statSync(outfile).size / 1e6).toFixed(1);
    console.error(
      `build: ${relative(ROOT, outfile)} ${mb} MB in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    if (opts.rootfs) {
      const r = assembleRootfs({
        arch: target.dockerArch,
        binary: outfile,
        outDir: rootfsDir(opts.outDir, target.dockerArch),
        mtime: commitTime(),
      });
      console.error(`build: ${relative(ROOT, r.outDir)}/ (${r.entries.length} entries, glibc from ${r.deb})`);
    }
  }
  // The host binary must print its stamp.
  const hostArch: BinaryArch = process.arch === "arm64" ? "arm64" : "x64";
  if (opts.targets.includes(hostArch) && opts.entry === join(ROOT, "src/main.ts")) {
    const v = run([join(opts.outDir, binaryName(hostArch)), "version"]);
    if (v.code !== 0 || !v.out.includes(stamp.version) || !v.out.includes(stamp.commit)) {
      console.error(`build: ${binaryName(hostArch)} version printed ${JSON.stringify(v.out + v.err)}`);
      return 1;
    }
    console.error(`build: ${v.out.trim()}`);
  }
  // The foreign binary too, when qemu-user can run it on the libraries of its rootfs.
  const qemu = Bun.which("qemu-aarch64-static");
  if (hostArch === "x64" && opts.targets.includes("arm64") && opts.rootfs && qemu) {
    const prefix = rootfsDir(opts.outDir, "arm64");
    const v = run([qemu, "-L", prefix, join(opts.outDir, binaryName("arm64")), "version"]);
    if (v.code !== 0 || !v.out.includes(stamp.commit)) {
      console.error(`build: ${binaryName("arm64")} version under qemu printed ${JSON.stringify(v.out + v.err)}`);
      return 1;
    }
    console.error(`build: arm64 under qemu: ${v.out.trim()}`);
  }
  const sums = await writeSums(opts.outDir);
  console.error(`build: ${relative(ROOT, sums)}`);
  return 0;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
