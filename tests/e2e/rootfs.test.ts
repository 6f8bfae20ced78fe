/**
 * The FROM-scratch image's root filesystems (dist/rootfs-amd64, dist/rootfs-arm64, made by
 * build.ts) hold exactly what the binary needs: the exact file list, each library and /proc
 * necessary, and the binary serving real Kafka lag from inside the rootfs as uid 65532 with only
 * /proc mounted (chroot in a private mount namespace) — x64 natively, arm64 under qemu-user-static.
 * When buildah and podman are installed, Dockerfile.scratch is also built with no network and the
 * images are run. Needs root (chroot, mount).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
} from "node:fs";
import { join } from "node:path";
import { ARCHES, type DockerArch, listTree, readElf } from "../../scripts/rootfs.ts";
import { closeHarnessClients, commitOffsets, createTopic, kafka, produceN, uniqueName } from "../kafka/harness.ts";
import { DIST, ensureBuilt, freePort, get, killAll, ROOT, sampleValue, scrape, start, until } from "./support.ts";

const QEMU = "/usr/bin/qemu-aarch64-static";
const UNSHARE = Bun.which("unshare") ?? "/usr/bin/unshare";
/** The rootfs has no PATH to speak of; chroot itself is looked up on the host's. */
const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const isRoot = process.getuid?.() === 0;
let work: string;
let bootstrap: string;
let topic: string;
let group: string;

function expectedEntries(arch: DockerArch): string[] {
  const t = ARCHES[arch].triplet;
  const loader =
    arch === "amd64"
      ? ["lib64/", "lib64/ld-linux-x86-64.so.2", `lib/${t}/ld-linux-x86-64.so.2`]
      : ["lib/ld-linux-aarch64.so.1", `lib/${t}/ld-linux-aarch64.so.1`];
  return [
    "etc/",
    "etc/group",
    "etc/klag-exporter/",
    "etc/klag-exporter/config.toml",
    "etc/nsswitch.conf",
    "etc/passwd",
    "klag-exporter",
    "lib/",
    `lib/${t}/`,
    `lib/${t}/libc.so.6`,
    `lib/${t}/libdl.so.2`,
    `lib/${t}/libm.so.6`,
    `lib/${t}/libpthread.so.0`,
    ...loader,
    "tmp/",
    "usr/",
    "usr/share/",
    "usr/share/doc/",
    "usr/share/doc/libc6/",
    "usr/share/doc/libc6/copyright",
  ].sort();
}

/** A hard-linked copy of the rootfs (cheap; files are never modified in place) plus a /proc mount point. */
function copyRootfs(arch: DockerArch, name: string): string {
  const src = join(DIST, `rootfs-${arch}`);
  const dst = join(work, name);
  const cp = Bun.spawnSync(["cp", "-al", src, dst], { stderr: "pipe" });
  if (cp.exitCode !== 0) throw new Error(`cp -al failed: ${cp.stderr.toString()}`);
  mkdirSync(join(dst, "proc"));
  return dst;
}

/**
 * The command that runs `argv` inside `root` as 65532:65532 in a private mount namespace where
 * only /proc is mounted; exec all the way, so the returned process is the exporter itself.
 */
function inRootfs(root: string, argv: string[], opts: { proc?: boolean } = {}): string[] {
  const script =
    opts.proc === false
      ? 'root=$1; shift; exec chroot --userspec=65532:65532 "$root" "$@"'
      : 'root=$1; shift; mount -t proc proc "$root/proc" && exec chroot --userspec=65532:65532 "$root" "$@"';
  return [UNSHARE, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", root, ...argv];
}

function runIn(root: string, argv: string[], opts: { proc?: boolean } = {}) {
  const p = Bun.spawnSync(inRootfs(root, argv, opts), { stdout: "pipe", stderr: "pipe", env: { PATH: HOST_PATH } });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

beforeAll(async () => {
  if (!isRoot) throw new Error("the rootfs tests need root (chroot and mount in a private mount namespace)");
  mkdirSync(join(ROOT, ".cache"), { recursive: true });
  work = mkdtempSync(join(ROOT, ".cache/e2e-rootfs-"));
  const [env] = await Promise.all([
    kafka(1),
    ensureBuilt("x64", { rootfs: true }),
    ensureBuilt("arm64", { rootfs: true }),
  ]);
  bootstrap = env.bootstrap.join(",");
  topic = uniqueName("e2e-rootfs");
  group = uniqueName("e2e-rootfs-group");
  await createTopic(topic, 1);
  await produceN(topic, [0], 7);
  await commitOffsets(group, topic, [{ partition: 0, offset: 2 }]);
}, 300_000);

afterAll(async () => {
  await killAll();
  await closeHarnessClients();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the scratch image's root filesystems", () => {
  for (const arch of ["amd64", "arm64"] as const) {
    test(`${arch}: holds exactly the binary, the glibc files its ELF header names, users, config and /tmp`, () => {
      const root = join(DIST, `rootfs-${arch}`);
      expect(listTree(root)).toEqual(expectedEntries(arch));
      const elf = readElf(readFileSync(join(root, "klag-exporter")));
      expect(elf.machine).toBe(ARCHES[arch].machine);
      expect(elf.interpreter).not.toBeNull();
      expect(existsSync(join(root, elf.interpreter!))).toBe(true);
      expect(lstatSync(join(root, "klag-exporter")).mode & 0o7777).toBe(0o755);
      expect(lstatSync(join(root, "tmp")).mode & 0o7777).toBe(0o1777);
      expect(readFileSync(join(root, "etc/passwd"), "utf8")).toContain("nonroot:x:65532:65532:");
      expect(readFileSync(join(root, "etc/group"), "utf8")).toContain("nonroot:x:65532:");
      expect(readFileSync(join(root, "etc/klag-exporter/config.toml"), "utf8")).toBe(
        readFileSync(join(ROOT, "deploy/docker/config.toml"), "utf8"),
      );
    });
  }

  test("amd64: every library and /proc is needed (the binary does not start without any one of them)", () => {
    const t = ARCHES.amd64.triplet;
    const full = copyRootfs("amd64", "needed-full");
    const ok = runIn(full, ["/klag-exporter", "version"]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    for (const lib of ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "ld-linux-x86-64.so.2"]) {
      const root = copyRootfs("amd64", `needed-${lib}`);
      unlinkSync(join(root, `lib/${t}/${lib}`));
      const r = runIn(root, ["/klag-exporter", "version"]);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe("");
    }
    const noProc = runIn(full, ["/klag-exporter", "version"], { proc: false });
    expect(noProc.code).not.toBe(0);
  });

  /** Runs the rootfs' own config (env-driven) inside the rootfs and checks the scrape. */
  async function serveLagFromRootfs(arch: DockerArch, prefix: string[], healthTimeoutMs: number) {
    const root = copyRootfs(arch, `serve-${arch}`);
    if (prefix.length > 0) {
      copyFileSync(QEMU, join(root, prefix[0]!));
      chmodSync(join(root, prefix[0]!), 0o755);
    }
    const port = freePort();
    const cluster = `rootfs-${arch}`;
    const exporter = start(
      inRootfs(root, [...prefix, "/klag-exporter", "--config", "/etc/klag-exporter/config.toml"]),
      {
        env: {
          PATH: HOST_PATH,
          KAFKA_BOOTSTRAP_SERVERS: bootstrap,
          KAFKA_CLUSTER_NAME: cluster,
          KLAG_HTTP_PORT: String(port),
          KLAG_POLL_INTERVAL: "1s",
        },
      },
    );
    try {
      await until(
        async () => ((await get(`http://127.0.0.1:${port}/health`, 1_000))?.status === 200 ? true : undefined),
        healthTimeoutMs,
        `/health of the ${arch} binary in its rootfs (stderr: ${exporter.stderr()})`,
      );
      const text = await until(
        async () => {
          const t = await scrape(port);
          return sampleValue(t, "kafka_consumergroup_group_sum_lag", { cluster_name: cluster, group }) !== undefined
            ? t
            : undefined;
        },
        60_000,
        `the group's lag from the ${arch} binary`,
      );
      expect(sampleValue(text, "kafka_consumergroup_group_sum_lag", { cluster_name: cluster, group })).toBe(5);
      expect(sampleValue(text, "kafka_lag_exporter_cluster_up", { cluster_name: cluster })).toBe(1);
      // Runs as the image's user.
      const status = readFileSync(`/proc/${exporter.proc.pid}/status`, "utf8");
      expect(status).toMatch(/^Uid:\s+65532\s/m);
      exporter.proc.kill("SIGTERM");
      const code = await Promise.race([exporter.proc.exited, Bun.sleep(10_000).then(() => "timeout" as const)]);
      expect(code).toBe(0);
      expect(exporter.stderr()).not.toMatch(/level=error/);
    } finally {
      exporter.kill();
    }
  }

  test("amd64: the binary serves a real group's lag from inside its rootfs as uid 65532, only /proc mounted", async () => {
    await serveLagFromRootfs("amd64", [], 10_000);
  }, 90_000);

  test("arm64: the binary serves a real group's lag from inside its rootfs under qemu-user-static", async () => {
    if (!existsSync(QEMU)) {
      throw new Error(
        `${QEMU} is missing: install Debian's qemu-user-static (apt-get install qemu-user-static) to run the arm64 binary here`,
      );
    }
    await serveLagFromRootfs("arm64", ["/qemu-aarch64-static"], 60_000);
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------
// Dockerfile.scratch: static checks always; a real build and run when buildah and podman exist.

describe("Dockerfile.scratch", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile.scratch"), "utf8");
  const instructions = dockerfile
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));

  test("starts FROM scratch, only copies the prepared rootfs, and runs the binary as 65532", () => {
    const keywords = instructions.map((l) => l.split(/\s+/)[0]!.toUpperCase());
    expect(keywords.filter((k) => k === "FROM")).toHaveLength(1);
    expect(instructions).toContain("FROM scratch");
    // Nothing executes and nothing is fetched at build time.
    for (const k of ["RUN", "ADD", "ONBUILD"]) expect(keywords).not.toContain(k);
    expect(instructions.filter((l) => l.startsWith("COPY"))).toEqual(["COPY dist/rootfs-${TARGETARCH}/ /"]);
    expect(instructions).toContain("USER 65532:65532");
    expect(instructions).toContain('ENTRYPOINT ["/klag-exporter"]');
    expect(instructions).toContain('CMD ["--config", "/etc/klag-exporter/config.toml"]');
    expect(instructions).toContain("EXPOSE 8000");
  });

  test(".dockerignore sends only the two rootfs folders as build context", () => {
    const lines = readFileSync(join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("#"));
    expect(lines).toEqual(["*", "!dist/rootfs-amd64", "!dist/rootfs-arm64"]);
  });

  const haveOci = ["buildah", "podman", "runc"].every((t) => Bun.which(t) !== null);
  const reason =
    "buildah, podman and runc are not all installed (Debian packages); the chroot tests above cover the rootfs";
  if (!haveOci) console.warn(`rootfs.test.ts: skipping the OCI image build and run: ${reason}`);

  test.skipIf(!haveOci)(
    "builds for amd64 and arm64 with no network at all, and the images run the exporter against Kafka",
    async () => {
      const store = join(work, "oci");
      const flags = ["--root", `${store}/root`, "--runroot", `${store}/run`, "--storage-driver", "vfs"];
      // This VM lacks CAP_SYS_RESOURCE and has hybrid cgroups: no default ulimits, runc, cgroupfs.
      const conf = join(work, "containers.conf");
      await Bun.write(conf, "[containers]\ndefault_ulimits = []\n");
      const env = { ...process.env, CONTAINERS_CONF: conf };
      try {
        for (const arch of ["amd64", "arm64"] as const) {
          // A fresh network namespace with no interfaces up: any pull would fail.
          const build = Bun.spawnSync(
            [
              "unshare",
              "--net",
              "--",
              "buildah",
              ...flags,
              "bud",
              "--isolation",
              "chroot",
              "--platform",
              `linux/${arch}`,
            ].concat(["-f", "Dockerfile.scratch", "-t", `localhost/klag-exporter:e2e-${arch}`, "."]),
            { cwd: ROOT, stdout: "pipe", stderr: "pipe", env },
          );
          expect(build.stderr.toString() + build.stdout.toString()).not.toContain("Error");
          expect(build.exitCode).toBe(0);
          const inspect = Bun.spawnSync(
            ["buildah", ...flags, "inspect", "--type", "image", `localhost/klag-exporter:e2e-${arch}`],
            { stdout: "pipe", env },
          );
          const image = JSON.parse(inspect.stdout.toString()) as {
            OCIv1: { architecture: string; config: { User: string; Entrypoint: string[]; Cmd: string[] } };
          };
          expect(image.OCIv1.architecture).toBe(arch);
          expect(image.OCIv1.config.User).toBe("65532:65532");
          expect(image.OCIv1.config.Entrypoint).toEqual(["/klag-exporter"]);
          expect(image.OCIv1.config.Cmd).toEqual(["--config", "/etc/klag-exporter/config.toml"]);
        }
        const podman = [
          "podman",
          ...flags,
          "--runtime",
          "runc",
          "--cgroup-manager",
          "cgroupfs",
          "--events-backend",
          "none",
        ];
        const arm64Emulated = existsSync("/proc/sys/fs/binfmt_misc/qemu-aarch64");
        if (!arm64Emulated)
          console.warn("rootfs.test.ts: qemu-aarch64 binfmt not registered; running the amd64 image only");
        for (const arch of arm64Emulated ? (["amd64", "arm64"] as const) : (["amd64"] as const)) {
          const port = freePort();
          const cluster = `image-${arch}`;
          const run = start(
            [...podman, "run", "--rm", "--network", "host", "--platform", `linux/${arch}`]
              .concat(["-e", `KAFKA_BOOTSTRAP_SERVERS=${bootstrap}`, "-e", `KAFKA_CLUSTER_NAME=${cluster}`])
              .concat([
                "-e",
                `KLAG_HTTP_PORT=${port}`,
                "-e",
                "KLAG_POLL_INTERVAL=1s",
                `localhost/klag-exporter:e2e-${arch}`,
              ]),
            { env },
          );
          try {
            const text = await until(
              async () => {
                const t = await scrape(port);
                return sampleValue(t, "kafka_consumergroup_group_sum_lag", { cluster_name: cluster, group }) !==
                  undefined
                  ? t
                  : undefined;
              },
              90_000,
              `the group's lag from the ${arch} image (${run.stderr()})`,
            );
            expect(sampleValue(text, "kafka_consumergroup_group_sum_lag", { cluster_name: cluster, group })).toBe(5);
            run.proc.kill("SIGTERM");
            const code = await Promise.race([run.proc.exited, Bun.sleep(15_000).then(() => "timeout" as const)]);
            expect(code).toBe(0);
          } finally {
            run.kill();
          }
        }
      } finally {
        Bun.spawnSync(["buildah", ...flags, "rmi", "--all", "--force"], { env, stdout: "ignore", stderr: "ignore" });
        rmSync(store, { recursive: true, force: true });
      }
    },
    600_000,
  );
});
