/** Test helpers: parse Prometheus text into samples, and run the real collection loop in-process. */
import { parseConfig } from "../../src/config/parse.ts";
import type { ClusterConfig, Config, ExporterConfig } from "../../src/config/types.ts";
import { type ClusterLoop, createClusterLoop } from "../../src/daemon/cluster-loop.ts";
import { createKafkaSource, type KafkaSource } from "../../src/daemon/kafka-source.ts";
import { createLogger, type Logger } from "../../src/lib/log.ts";
import { createExposition, type Exposition } from "../../src/metrics/exposition.ts";
import type { GaugeStore } from "../../src/metrics/store.ts";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text format 0.0.4 sample lines (comments skipped). */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const brace = line.indexOf("{");
    const space = line.lastIndexOf(" ");
    if (brace === -1 || brace > space) {
      out.push({ name: line.slice(0, space), labels: {}, value: parseValue(line.slice(space + 1)) });
      continue;
    }
    const name = line.slice(0, brace);
    const labels: Record<string, string> = {};
    let i = brace + 1;
    while (line[i] !== "}") {
      const eq = line.indexOf("=", i);
      const key = line.slice(i, eq);
      i = eq + 2; // skip ="
      let value = "";
      while (line[i] !== '"') {
        if (line[i] === "\\") {
          const next = line[i + 1];
          value += next === "n" ? "\n" : next;
          i += 2;
        } else value += line[i++];
      }
      labels[key] = value;
      i++;
      if (line[i] === ",") i++;
    }
    out.push({ name, labels, value: parseValue(line.slice(line.indexOf(" ", i) + 1)) });
  }
  return out;
}

function parseValue(s: string): number {
  if (s === "+Inf") return Number.POSITIVE_INFINITY;
  if (s === "-Inf") return Number.NEGATIVE_INFINITY;
  return Number(s);
}

/** Samples of `name` whose labels include `match`. */
export function find(samples: Sample[], name: string, match: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The single value of `name{match}`, or undefined when absent; throws when ambiguous. */
export function value(samples: Sample[], name: string, match: Record<string, string> = {}): number | undefined {
  const found = find(samples, name, match);
  if (found.length > 1) throw new Error(`${found.length} samples match ${name} ${JSON.stringify(match)}`);
  return found[0]?.value;
}

export function configFrom(toml: string, env: Record<string, string> = {}): Config {
  const r = parseConfig(toml, env);
  if (r.kind !== "ok") throw new Error(`test config invalid: ${JSON.stringify(r.problems)}`);
  return r.config;
}

export interface InProcessExporter {
  /** Runs one cycle on every cluster; returns the parsed exposition after it. */
  cycle(): Promise<Sample[]>;
  text(): string;
  stop(): Promise<void>;
}

/**
 * One cluster's real loop over the real Kafka source, publishing into `exposition` as the daemon
 * does (`<cluster>/data`, `<cluster>/self`); `onPublish` also sees the stores.
 */
export function createKafkaLoop(
  cluster: ClusterConfig,
  exporter: ExporterConfig,
  exposition: Exposition,
  logger: Logger,
  onPublish?: (data: GaugeStore | null, self: GaugeStore) => void,
): { loop: ClusterLoop; source: KafkaSource } {
  const source = createKafkaSource({ cluster, exporter, logger });
  const loop = createClusterLoop({
    cluster,
    exporter,
    source: source.lagSource,
    timeLag: source.timeLag,
    logger,
    clock: { nowMs: () => Date.now() },
    publish(name, data, self) {
      onPublish?.(data, self);
      exposition.publish(`${name}/data`, data);
      exposition.publish(`${name}/self`, self);
    },
  });
  return { loop, source };
}

/** The real loops (real Kafka client) with an in-memory exposition, driven cycle by cycle. */
export function inProcessExporter(config: Config, logger: Logger = quietLogger()): InProcessExporter {
  const exposition = createExposition();
  const loops = config.clusters.map((cluster) => createKafkaLoop(cluster, config.exporter, exposition, logger).loop);
  const text = () => new TextDecoder().decode(exposition.current("prometheus", false));
  return {
    async cycle() {
      await Promise.all(loops.map((l) => l.runCycle()));
      return parseExposition(text());
    },
    text,
    async stop() {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}

export function quietLogger(): Logger {
  return createLogger({ level: "error", format: "logfmt", write: () => {} });
}
