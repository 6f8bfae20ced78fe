/**
 * deploy/systemd/klag-exporter.service: the keys the daemon mode relies on (DynamicUser, hardening,
 * restart policy, SIGHUP reload, secrets file), `systemd-analyze verify` clean, and the offline
 * security review's exposure score. The syscalls the binary really makes are checked against the
 * unit's filter in tests/e2e/systemd-sandbox.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const UNIT_PATH = join(ROOT, "deploy/systemd/klag-exporter.service");
const unitText = readFileSync(UNIT_PATH, "utf8");

/** The unit's assignments per section, in order (repeated keys keep every value). */
function parseUnit(text: string): Map<string, [string, string][]> {
  const sections = new Map<string, [string, string][]>();
  let current: [string, string][] | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = [];
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf("=");
    if (!current || eq < 0) throw new Error(`not a unit line: ${line}`);
    current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const unit = parseUnit(unitText);
const service = unit.get("Service") ?? [];
const values = (key: string) => service.filter(([k]) => k === key).map(([, v]) => v);
const value = (key: string) => values(key).at(-1);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "klag-systemd-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The unit with the binary path pointing at a stand-in executable, so verify can check it here. */
function unitForVerify(): string {
  const exe = join(dir, "klag-exporter");
  writeFileSync(exe, "#!/bin/sh\nexit 0\n");
  chmodSync(exe, 0o755);
  const path = join(dir, "klag-exporter.service");
  writeFileSync(path, unitText.replaceAll("/usr/local/bin/klag-exporter", exe));
  return path;
}

function systemdAnalyze(args: string[]): { code: number; out: string } {
  const bin = Bun.which("systemd-analyze");
  if (!bin) throw new Error("systemd-analyze is missing: install Debian's systemd package to check the unit");
  const p = Bun.spawnSync([bin, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: `${p.stdout.toString()}${p.stderr.toString()}` };
}

describe("the systemd unit", () => {
  test("runs the binary with the config in /etc/klag-exporter, secrets from an optional env file", () => {
    expect(value("ExecStart")).toBe("/usr/local/bin/klag-exporter --config /etc/klag-exporter/config.toml");
    expect(values("EnvironmentFile")).toEqual(["-/etc/klag-exporter/env"]);
    expect(value("Type")).toBe("exec");
  });

  test("reloads with SIGHUP and restarts on failure, but not after a config error (exit 2)", () => {
    expect(value("ExecReload")).toBe("/bin/kill -HUP $MAINPID");
    expect(value("Restart")).toBe("on-failure");
    expect(value("RestartPreventExitStatus")).toBe("2");
    // SIGTERM exits within 5 s; systemd waits longer than that before SIGKILL.
    expect(Number.parseInt(value("TimeoutStopSec") ?? "0", 10)).toBeGreaterThan(5);
  });

  test("runs as a dynamic user with the required hardening, and allows the JIT", () => {
    const required: Record<string, string> = {
      DynamicUser: "yes",
      NoNewPrivileges: "yes",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      PrivateDevices: "yes",
      ProtectKernelTunables: "yes",
      ProtectKernelModules: "yes",
      ProtectKernelLogs: "yes",
      ProtectControlGroups: "yes",
      RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX",
      CapabilityBoundingSet: "",
      MemoryDenyWriteExecute: "no",
    };
    for (const [k, v] of Object.entries(required)) expect(`${k}=${value(k)}`).toBe(`${k}=${v}`);
    expect(values("SystemCallFilter")[0]).toBe("@system-service");
    expect(unit.get("Install")).toEqual([["WantedBy", "multi-user.target"]]);
  });

  test("passes systemd-analyze verify without a warning", () => {
    const r = systemdAnalyze(["verify", "--man=no", unitForVerify()]);
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
  });

  test("scores as OK (exposure below 2.0) in systemd's offline security review", () => {
    const r = systemdAnalyze(["security", "--offline=true", "--no-pager", unitForVerify()]);
    const m = /Overall exposure level for klag-exporter\.service: ([\d.]+) (\w+)/.exec(r.out);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(2);
    expect(m![2]).toBe("OK");
  });
});
