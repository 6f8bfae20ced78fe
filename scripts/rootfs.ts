/**
 * Assembles the root filesystem of the FROM-scratch image, per architecture: the compiled binary,
 * exactly the glibc files its ELF headers ask for (taken from Debian's libc6 package of that
 * architecture, downloaded with apt and extracted with dpkg-deb, never installed), passwd/group
 * with the non-root user 65532, nsswitch.conf, the default config and /tmp.
 * Usage: bun run scripts/rootfs.ts [--arch amd64|arm64|all] [--dist DIR]
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

/** Docker's architecture names (TARGETARCH), which name the rootfs folders. */
export type DockerArch = "amd64" | "arm64";

export interface ArchInfo {
  /** Bun's name of the architecture, used in the binary's file name. */
  bunArch: "x64" | "arm64";
  /** Debian multiarch triplet (library folder). */
  triplet: string;
  /** ELF e_machine. */
  machine: number;
}

export const ARCHES: Record<DockerArch, ArchInfo> = {
  amd64: { bunArch: "x64", triplet: "x86_64-linux-gnu", machine: 62 },
  arm64: { bunArch: "arm64", triplet: "aarch64-linux-gnu", machine: 183 },
};

export const NONROOT_UID = 65532;

// ---------------------------------------------------------------------------------------------
// ELF: the interpreter (PT_INTERP) and the shared libraries (DT_NEEDED) of a 64-bit LE object.

export interface ElfInfo {
  machine: number;
  interpreter: string | null;
  needed: string[];
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;

/** e_machine of a 64-bit little-endian ELF header (the first 20 bytes suffice). */
export function elfMachine(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 20 || view.getUint32(0) !== 0x7f454c46) throw new Error("not an ELF file");
  if (bytes[4] !== 2 || bytes[5] !== 1) throw new Error("only 64-bit little-endian ELF is supported");
  return view.getUint16(18, true);
}

export function readElf(bytes: Uint8Array): ElfInfo {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const machine = elfMachine(bytes);
  const phoff = Number(view.getBigUint64(32, true));
  const phentsize = view.getUint16(54, true);
  const phnum = view.getUint16(56, true);
  const loads: { vaddr: number; offset: number; filesz: number }[] = [];
  let interpreter: string | null = null;
  let dynamic: { offset: number; size: number } | null = null;
  const cString = (at: number): string => {
    let end = at;
    while (end < bytes.length && bytes[end] !== 0) end++;
    return new TextDecoder().decode(bytes.subarray(at, end));
  };
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const type = view.getUint32(ph, true);
    const offset = Number(view.getBigUint64(ph + 8, true));
    const vaddr = Number(view.getBigUint64(ph + 16, true));
    const filesz = Number(view.getBigUint64(ph + 32, true));
    if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    else if (type === PT_INTERP) interpreter = cString(offset);
    else if (type === PT_DYNAMIC) dynamic = { offset, size: filesz };
  }
  const needed: string[] = [];
  if (dynamic) {
    const neededOffsets: number[] = [];
    let strtabVaddr: number | null = null;
    for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
      const tag = view.getBigInt64(at, true);
      const value = Number(view.getBigUint64(at + 8, true));
      if (tag === 0n) break;
      if (tag === DT_NEEDED) neededOffsets.push(value);
      else if (tag === DT_STRTAB) strtabVaddr = value;
    }
    if (neededOffsets.length > 0) {
      if (strtabVaddr === null) throw new Error("ELF has DT_NEEDED entries but no DT_STRTAB");
      const seg = loads.find((l) => strtabVaddr! >= l.vaddr && strtabVaddr! < l.vaddr + l.filesz);
      if (!seg) throw new Error("DT_STRTAB is outside every PT_LOAD segment");
      const strtab = strtabVaddr - seg.vaddr + seg.offset;
      for (const o of neededOffsets) needed.push(cString(strtab + o));
    }
  }
  return { machine, interpreter, needed };
}

// ---------------------------------------------------------------------------------------------
// Debian's libc6 package for an architecture, cached under .cache/debs.

function sh(cmd: string[], opts: { cwd?: string } = {}): string {
  const p = Bun.spawnSync(cmd, { cwd: opts.cwd, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) {
    throw new Error(`${cmd.join(" ")} failed (exit ${p.exitCode}): ${p.stderr.toString().trim()}`);
  }
  return p.stdout.toString();
}

/** The cached libc6 .deb for `arch`; downloads it with apt (adding the dpkg architecture) when absent. */
export function libc6Deb(arch: DockerArch, cacheDir = join(ROOT, ".cache/debs")): string {
  mkdirSync(cacheDir, { recursive: true });
  const cached = () =>
    readdirSync(cacheDir)
      .filter((f) => f.startsWith("libc6_") && f.endsWith(`_${arch}.deb`))
      .sort();
  let found = cached();
  if (found.length === 0) {
    const native = sh(["dpkg", "--print-architecture"]).trim();
    if (arch !== native) {
      const foreign = sh(["dpkg", "--print-foreign-architectures"]).split("\n");
      if (!foreign.includes(arch)) {
        console.error(`rootfs: adding dpkg architecture ${arch} and updating apt lists (needs root)`);
        sh(["dpkg", "--add-architecture", arch]);
        sh(["apt-get", "update", "-qq"]);
      }
    }
    console.error(`rootfs: apt-get download libc6:${arch} into ${cacheDir}`);
    const dl = () => sh(["apt-get", "download", "-o", "APT::Sandbox::User=root", `libc6:${arch}`], { cwd: cacheDir });
    try {
      dl();
    } catch {
      // Package lists may be missing on a fresh machine.
      sh(["apt-get", "update", "-qq"]);
      dl();
    }
    found = cached();
  }
  const deb = found.at(-1);
  if (!deb) throw new Error(`no libc6 package for ${arch} in ${cacheDir}`);
  return join(cacheDir, deb);
}

// ---------------------------------------------------------------------------------------------
// The root filesystem.

export interface RootfsOptions {
  arch: DockerArch;
  /** The compiled klag-exporter binary for that architecture. */
  binary: string;
  /** Output folder (replaced). */
  outDir: string;
  /** Config installed at /etc/klag-exporter/config.toml. */
  config?: string;
  /** The libc6 .deb (default: cached/downloaded by libc6Deb). */
  deb?: string;
  /** mtime of every entry (seconds), for reproducible image layers. */
  mtime?: number;
}

export interface RootfsResult {
  outDir: string;
  deb: string;
  /** Every path in the rootfs (relative, sorted), directories with a trailing slash. */
  entries: string[];
}

const PASSWD = `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NONROOT_UID}:${NONROOT_UID}:nonroot:/nonexistent:/sbin/nologin\n`;
const GROUP = `root:x:0:\nnonroot:x:${NONROOT_UID}:\n`;
// glibc ≥ 2.34 has the files and dns NSS modules built in; this only makes the lookup order explicit.
const NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n";

export function assembleRootfs(opts: RootfsOptions): RootfsResult {
  const info = ARCHES[opts.arch];
  const elf = readElf(readFileSync(opts.binary));
  if (elf.machine !== info.machine) {
    throw new Error(`${opts.binary} is ELF machine ${elf.machine}, not ${opts.arch} (${info.machine})`);
  }
  if (!elf.interpreter) throw new Error(`${opts.binary} has no ELF interpreter (static binaries need no rootfs libs)`);
  const deb = opts.deb ?? libc6Deb(opts.arch);
  const extract = mkdtempSync(join(tmpdir(), `klag-libc6-${opts.arch}-`));
  const out = resolve(opts.outDir);
  try {
    sh(["dpkg-deb", "-x", deb, extract]);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });

    const inExtract = (p: string) => join(extract, p);
    const copied = new Set<string>();
    /** Copies a path of the package (a file, or a symlink and what it points at) to the same path. */
    const copyFromPackage = (abs: string): void => {
      const rel = posix.normalize(abs).replace(/^\/+/, "");
      if (copied.has(rel)) return;
      copied.add(rel);
      const src = inExtract(rel);
      const st = lstatSync(src);
      mkdirSync(dirname(join(out, rel)), { recursive: true });
      if (st.isSymbolicLink()) {
        const target = readlinkSync(src);
        symlinkSync(target, join(out, rel));
        copyFromPackage(target.startsWith("/") ? target : posix.join(posix.dirname(`/${rel}`), target));
      } else if (st.isFile()) {
        copyFileSync(src, join(out, rel));
        chmodSync(join(out, rel), st.mode & 0o7777);
      } else {
        throw new Error(`${rel} in ${deb} is neither a file nor a symlink`);
      }
    };
    const libDirs = [`/lib/${info.triplet}`, `/usr/lib/${info.triplet}`, "/lib", "/usr/lib"];
    const resolveLib = (name: string): string => {
      for (const d of libDirs) if (existsSync(inExtract(`${d}/${name}`))) return `${d}/${name}`;
      throw new Error(`${name} (needed by the binary) is not in ${deb}`);
    };

    // The loader, then DT_NEEDED closure of the binary.
    if (!existsSync(inExtract(elf.interpreter))) throw new Error(`the loader ${elf.interpreter} is not in ${deb}`);
    copyFromPackage(elf.interpreter);
    const queue = [...elf.needed];
    const seen = new Set<string>();
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const path = resolveLib(name);
      copyFromPackage(path);
      queue.push(...readElf(readFileSync(inExtract(path))).needed);
    }
    // glibc is LGPL: ship its copyright notice with it.
    copyFromPackage("/usr/share/doc/libc6/copyright");

    copyFileSync(opts.binary, join(out, "klag-exporter"));
    chmodSync(join(out, "klag-exporter"), 0o755);
    mkdirSync(join(out, "etc/klag-exporter"), { recursive: true });
    writeFileSync(join(out, "etc/passwd"), PASSWD, { mode: 0o644 });
    writeFileSync(join(out, "etc/group"), GROUP, { mode: 0o644 });
    writeFileSync(join(out, "etc/nsswitch.conf"), NSSWITCH, { mode: 0o644 });
    copyFileSync(opts.config ?? join(ROOT, "deploy/docker/config.toml"), join(out, "etc/klag-exporter/config.toml"));
    chmodSync(join(out, "etc/klag-exporter/config.toml"), 0o644);
    mkdirSync(join(out, "tmp"));
    chmodSync(join(out, "tmp"), 0o1777);

    const entries = listTree(out);
    if (opts.mtime !== undefined) {
      for (const e of [...entries].reverse()) {
        const p = join(out, e);
        if (!lstatSync(p).isSymbolicLink()) utimesSync(p, opts.mtime, opts.mtime);
      }
      utimesSync(out, opts.mtime, opts.mtime);
    }
    return { outDir: out, deb, entries };
  } finally {
    rmSync(extract, { recursive: true, force: true });
  }
}

/** Every path under `dir`, relative and sorted; directories end with "/". */
export function listTree(dir: string, prefix = ""): string[] {
  const result: string[] = [];
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = lstatSync(join(dir, rel));
    if (st.isDirectory()) result.push(`${rel}/`, ...listTree(dir, rel));
    else result.push(rel);
  }
  return result;
}

/** Unix time of the last commit (the rootfs entries' mtime), or undefined outside git. */
export function commitTime(cwd = ROOT): number | undefined {
  const p = Bun.spawnSync(["git", "log", "-1", "--format=%ct"], { cwd, stdout: "pipe", stderr: "ignore" });
  const t = Number(p.stdout.toString().trim());
  return p.exitCode === 0 && t > 0 ? t : undefined;
}

/** The rootfs folder for an architecture under `dist`. */
export function rootfsDir(dist: string, arch: DockerArch): string {
  return join(dist, `rootfs-${arch}`);
}

async function main(argv: string[]): Promise<number> {
  let archArg = "all";
  let dist = join(ROOT, "dist");
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--arch") archArg = argv[++i] ?? "";
    else if (argv[i] === "--dist") dist = resolve(argv[++i] ?? "");
    else {
      console.error(`usage: bun run scripts/rootfs.ts [--arch amd64|arm64|all] [--dist DIR]`);
      return 2;
    }
  }
  const arches: DockerArch[] =
    archArg === "all" ? ["amd64", "arm64"] : archArg === "amd64" || archArg === "arm64" ? [archArg] : [];
  if (arches.length === 0) {
    console.error(`--arch: expected amd64, arm64 or all, got "${archArg}"`);
    return 2;
  }
  for (const arch of arches) {
    const binary = join(dist, `klag-exporter-linux-${ARCHES[arch].bunArch}`);
    if (!existsSync(binary)) {
      console.error(`${binary} is missing: run build.ts first`);
      return 1;
    }
    const r = assembleRootfs({ arch, binary, outDir: rootfsDir(dist, arch), mtime: commitTime() });
    console.error(`rootfs ${arch}: ${r.outDir} (${r.entries.length} entries, libs from ${r.deb})`);
  }
  return 0;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
