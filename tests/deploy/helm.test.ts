/**
 * deploy/helm/klag-exporter without the helm binary: the chart's ConfigMap is `.Values.config`
 * verbatim (checked on the template), and the container's environment is KLAG_HTTP_PORT (from
 * .Values.port), .Values.env and .Values.secretEnv (checked on the template). So the config the pod
 * runs is the values' config with exactly that environment: for the default values and every
 * ci/*-values.yaml (merged over the defaults like helm does), every ${VAR} it uses must come from
 * the chart, and `klag-exporter check-config` must accept it with only that environment, without
 * printing the secrets. When a helm binary is on PATH, the chart is also linted and rendered and
 * the rendered objects are checked.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const CHART = join(ROOT, "deploy/helm/klag-exporter");
// helm on PATH, or one built with `GOBIN=$PWD/.cache/tools go install helm.sh/helm/v3/cmd/helm@v3.16.4`.
const HELM =
  Bun.which("helm") ?? (existsSync(join(ROOT, ".cache/tools/helm")) ? join(ROOT, ".cache/tools/helm") : null);

type Values = {
  port: number;
  config: string;
  env: Record<string, string | number | boolean>;
  secretEnv: Record<string, string>;
  existingSecret: string;
  serviceMonitor: { enabled: boolean };
  [k: string]: unknown;
};

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** helm's merge of a values file over the chart's defaults: maps merge, everything else replaces. */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isMap(v) && isMap(base[k]) ? merge(base[k], v) : v;
  return out;
}

function readYaml(path: string): Record<string, unknown> {
  return (Bun.YAML.parse(readFileSync(path, "utf8")) ?? {}) as Record<string, unknown>;
}

const defaults = readYaml(join(CHART, "values.yaml"));
const ciFiles = readdirSync(join(CHART, "ci"))
  .filter((f) => f.endsWith("-values.yaml"))
  .sort();
const cases: { name: string; file?: string; values: Values }[] = [
  { name: "values.yaml", values: defaults as Values },
  ...ciFiles.map((f) => ({
    name: `ci/${f}`,
    file: join(CHART, "ci", f),
    values: merge(defaults, readYaml(join(CHART, "ci", f))) as Values,
  })),
];

/** The container environment the Deployment template gives the exporter for these values. */
function chartEnv(values: Values): Record<string, string> {
  const env: Record<string, string> = { KLAG_HTTP_PORT: String(values.port) };
  for (const [k, v] of Object.entries(values.env ?? {})) env[k] = String(v);
  for (const [k, v] of Object.entries(values.secretEnv ?? {})) env[k] = String(v);
  return env;
}

/** ${NAME} references that have no default (${NAME:-x} and ${?NAME} need nothing). */
function requiredVars(config: string): string[] {
  const withoutComments = config
    .split("\n")
    .filter((l) => !l.trimStart().startsWith("#"))
    .join("\n");
  return [...new Set([...withoutComments.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!))];
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "klag-helm-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function checkConfig(config: string, env: Record<string, string>, name: string) {
  const path = join(dir, `${name.replaceAll("/", "_")}.toml`);
  writeFileSync(path, config);
  // Only the chart's environment (plus PATH): a variable the chart does not provide must fail.
  const p = Bun.spawnSync([process.execPath, "run", join(ROOT, "src/main.ts"), "check-config", path], {
    cwd: dir,
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
  });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

describe("the Helm chart's templates (read without helm)", () => {
  const template = (name: string) => readFileSync(join(CHART, "templates", name), "utf8");

  test("the ConfigMap's config.toml is .Values.config verbatim", () => {
    expect(template("configmap.yaml")).toMatch(
      /\n {2}config\.toml: \|\n {4}\{\{- required "[^"]*" \.Values\.config \| nindent 4 \}\}\n/,
    );
  });

  test("the container gets KLAG_HTTP_PORT from .Values.port, .Values.env, and the Secret via envFrom", () => {
    const d = template("deployment.yaml");
    expect(d).toContain("- name: KLAG_HTTP_PORT\n              value: {{ .Values.port | quote }}");
    expect(d).toContain("{{- range $name, $value := .Values.env }}");
    expect(d).toContain(
      'envFrom:\n            - secretRef:\n                name: {{ include "klag-exporter.secretName" . }}',
    );
    expect(template("secret.yaml")).toContain("{{- range $name, $value := .Values.secretEnv }}");
    expect(d).toContain('args: ["--config", "/etc/klag-exporter/config.toml"]');
    expect(d).toContain("mountPath: /etc/klag-exporter");
  });

  test("probes /health for liveness and /ready for readiness; non-root with a read-only root file system", () => {
    const v = defaults as Record<string, Record<string, unknown>>;
    expect(v.livenessProbe).toMatchObject({ httpGet: { path: "/health", port: "http" } });
    expect(v.readinessProbe).toMatchObject({ httpGet: { path: "/ready", port: "http" } });
    expect(v.podSecurityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(v.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(v.resources).toMatchObject({ requests: { cpu: expect.any(String), memory: expect.any(String) } });
    expect((defaults.serviceMonitor as { enabled: boolean }).enabled).toBe(false);
    expect(template("servicemonitor.yaml")).toStartWith("{{- if .Values.serviceMonitor.enabled }}");
  });
});

describe("the config each values file puts in the ConfigMap", () => {
  for (const c of cases) {
    test(`${c.name}: every \${VAR} comes from the chart and check-config accepts it with exit 0`, () => {
      const env = chartEnv(c.values);
      expect(requiredVars(c.values.config).filter((v) => !(v in env))).toEqual([]);
      const r = checkConfig(c.values.config, env, c.name);
      if (r.code !== 0) console.error(r.stderr);
      expect(r.code).toBe(0);
      // The port the probes and the Service use is the one the exporter listens on.
      expect(r.stdout).toContain(`http_port = ${c.values.port}`);
      for (const secret of Object.values(c.values.secretEnv ?? {})) {
        expect(r.stdout).not.toContain(String(secret));
        expect(r.stderr).not.toContain(String(secret));
      }
    });
  }

  const withSecrets = cases.find((c) => Object.keys(c.values.secretEnv ?? {}).length > 0);
  test("a config whose secret the chart does not provide is rejected, naming the variable", () => {
    expect(withSecrets).toBeDefined();
    const env = chartEnv(withSecrets!.values);
    const missing = Object.keys(withSecrets!.values.secretEnv)[0]!;
    delete env[missing];
    const r = checkConfig(withSecrets!.values.config, env, "missing-secret");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(missing);
  });
});

// ---------------------------------------------------------------------------------------------
// With a helm binary: lint and render.

if (!HELM)
  console.warn("helm.test.ts: no helm binary on PATH or in .cache/tools; the chart is checked without rendering it");

interface K8sObject {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: Record<string, unknown>;
}

describe.skipIf(!HELM)("the Helm chart rendered by helm", () => {
  function helm(args: string[]): { code: number; out: string; err: string } {
    const p = Bun.spawnSync([HELM!, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    return { code: p.exitCode ?? -1, out: p.stdout.toString(), err: p.stderr.toString() };
  }

  for (const c of cases) {
    test(`${c.name}: helm lint passes and the rendered objects carry the config, env, probes and security`, () => {
      const fileArgs = c.file ? ["-f", c.file] : [];
      const lint = helm(["lint", "--strict", CHART, ...fileArgs]);
      if (lint.code !== 0) console.error(lint.out, lint.err);
      expect(lint.code).toBe(0);
      const rendered = helm(["template", "klag", CHART, "--namespace", "monitoring", ...fileArgs]);
      expect(rendered.err).toBe("");
      expect(rendered.code).toBe(0);
      const objects = (Bun.YAML.parse(rendered.out) as (K8sObject | null)[]).filter((o): o is K8sObject => !!o);
      const byKind = (kind: string) => objects.filter((o) => o.kind === kind);

      const [cm] = byKind("ConfigMap");
      expect(cm!.data!["config.toml"]).toBe(c.values.config);

      const [deployment] = byKind("Deployment");
      const pod = (deployment!.spec as { template: { spec: Record<string, unknown> } }).template.spec as {
        securityContext: Record<string, unknown>;
        containers: {
          ports: { containerPort: number }[];
          env: { name: string; value: string }[];
          envFrom?: { secretRef: { name: string } }[];
          livenessProbe: { httpGet: { path: string } };
          readinessProbe: { httpGet: { path: string } };
          securityContext: Record<string, unknown>;
        }[];
      };
      const container = pod.containers[0]!;
      expect(container.ports[0]!.containerPort).toBe(c.values.port);
      expect(container.livenessProbe.httpGet.path).toBe("/health");
      expect(container.readinessProbe.httpGet.path).toBe("/ready");
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
      expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true });
      const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
      const secrets = byKind("Secret");
      if (Object.keys(c.values.secretEnv ?? {}).length > 0) {
        expect(secrets).toHaveLength(1);
        expect(container.envFrom?.[0]?.secretRef.name).toBe(secrets[0]!.metadata.name);
        Object.assign(env, secrets[0]!.stringData);
      } else {
        expect(secrets).toHaveLength(0);
      }
      // The rendered environment is exactly what the helm-less checks above assumed.
      expect(env).toEqual(chartEnv(c.values));
      expect(byKind("Service")).toHaveLength(1);
      expect(byKind("ServiceMonitor")).toHaveLength(c.values.serviceMonitor.enabled ? 1 : 0);
    });
  }
});
