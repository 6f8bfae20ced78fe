/**
 * The command line (citty): `run` (default), `check-config`, `once`, `version`. The only module
 * that calls process.exit. Logs go to stderr; stdout carries only a command's output.
 */
import { defineCommand, runMain } from "citty";
import { loadConfigFile } from "../config/load.ts";
import { secretValues, toEffectiveConfigText } from "../config/redact.ts";
import type { Config, ConfigProblem } from "../config/types.ts";
import { createDaemon } from "../daemon/daemon.ts";
import { BUILD } from "../lib/build-info.ts";
import { errorMessage } from "../lib/errors.ts";
import { createLogger, isLogLevel, type LogFormat, type Logger, type LogLevel } from "../lib/log.ts";

const EXIT_CONFIG = 2;

const commonArgs = {
  config: { type: "string", alias: "c", description: "Path to the TOML config file", default: "config.toml" },
  "log-level": { type: "string", description: "debug | info | warn | error (default: LOG_LEVEL or info)" },
  "log-format": { type: "string", description: "logfmt | json (default: LOG_FORMAT or logfmt)" },
} as const;

interface CommonArgs {
  config: string;
  "log-level"?: string;
  "log-format"?: string;
}

function makeLogger(args: CommonArgs, secrets: readonly string[] = []): Logger {
  const levelText = (args["log-level"] ?? process.env.LOG_LEVEL ?? "info").toLowerCase();
  const formatText = (args["log-format"] ?? process.env.LOG_FORMAT ?? "logfmt").toLowerCase();
  if (!isLogLevel(levelText))
    fail(EXIT_CONFIG, `--log-level: unknown level "${levelText}"; use debug, info, warn or error`);
  if (formatText !== "json" && formatText !== "logfmt")
    fail(EXIT_CONFIG, `--log-format: unknown format "${formatText}"; use logfmt or json`);
  return createLogger({ level: levelText as LogLevel, format: formatText as LogFormat, secrets });
}

async function writeStdout(text: string): Promise<void> {
  await Bun.write(Bun.stdout, text);
}

function fail(code: number, message: string): never {
  process.stderr.write(`klag-exporter: ${message}\n`);
  process.exit(code);
}

function printProblems(path: string, problems: ConfigProblem[]): void {
  process.stderr.write(
    `klag-exporter: ${path}: ${problems.length} configuration problem${problems.length === 1 ? "" : "s"}:\n`,
  );
  for (const p of problems) process.stderr.write(`  ${p.path ? `${p.path}: ` : ""}${p.message}\n`);
}

async function loadOrExit(path: string): Promise<{ config: Config; notices: string[] }> {
  const result = await loadConfigFile(path);
  if (result.kind === "invalid") {
    printProblems(path, result.problems);
    process.exit(EXIT_CONFIG);
  }
  return { config: result.config, notices: result.notices };
}

/** Loads the config (exit 2 when invalid), builds the logger that redacts its secrets, and the daemon. */
async function prepareDaemon(args: CommonArgs) {
  const { config, notices } = await loadOrExit(args.config);
  const logger = makeLogger(args, secretValues(config));
  for (const n of notices) logger.info(n);
  return { config, logger, daemon: createDaemon({ config, logger }) };
}

const run = defineCommand({
  meta: { name: "run", description: "Run the exporter daemon (the default command)" },
  args: commonArgs,
  async run({ args }) {
    const { logger, daemon } = await prepareDaemon(args);
    try {
      await daemon.start();
    } catch (error) {
      logger.error("could not start", { error: errorMessage(error) });
      process.exit(1);
    }
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info("shutting down", { signal });
      // Exit within 5 s whatever Kafka does.
      const force = setTimeout(() => process.exit(0), 4_500);
      await daemon.stop().catch((e) => logger.warn("error during shutdown", { error: errorMessage(e) }));
      clearTimeout(force);
      process.exit(0);
    };
    process.on("SIGTERM", () => void shutdown("SIGTERM"));
    process.on("SIGINT", () => void shutdown("SIGINT"));
    process.on("SIGHUP", async () => {
      const result = await loadConfigFile(args.config);
      if (result.kind === "invalid") {
        logger.error("config reload rejected; keeping the running config", {
          file: args.config,
          problems: result.problems.map((p) => `${p.path}: ${p.message}`),
        });
        return;
      }
      await daemon.reload(result.config).catch((e) => logger.error("config reload failed", { error: errorMessage(e) }));
    });
  },
});

const checkConfig = defineCommand({
  meta: {
    name: "check-config",
    description: "Validate a config file and print the effective config (secrets redacted)",
  },
  args: {
    file: { type: "positional", required: false, description: "Config file (default: --config or config.toml)" },
    ...commonArgs,
  },
  async run({ args }) {
    const path = (args.file as string | undefined) ?? args.config;
    const { config, notices } = await loadOrExit(path);
    for (const n of notices) process.stderr.write(`notice: ${n}\n`);
    await writeStdout(toEffectiveConfigText(config));
    process.stderr.write(`${path}: OK\n`);
  },
});

const once = defineCommand({
  meta: { name: "once", description: "Run one collection cycle and print the exposition to stdout" },
  args: commonArgs,
  async run({ args }) {
    const { logger, daemon } = await prepareDaemon(args);
    const result = await daemon.once();
    // Awaited: a large exposition to a pipe must be fully written before process.exit.
    await writeStdout(result.text);
    for (const f of result.failed) logger.error("cluster failed", { detail: f });
    process.exit(result.ok ? 0 : 1);
  },
});

const version = defineCommand({
  meta: { name: "version", description: "Print the version" },
  async run() {
    await writeStdout(`klag-exporter ${BUILD.version} (commit ${BUILD.commit}, ${BUILD.runtime})\n`);
  },
});

const main = defineCommand({
  meta: {
    name: "klag-exporter",
    version: BUILD.version,
    description: "Kafka consumer-group lag exporter for Prometheus and OTLP",
  },
  args: commonArgs,
  default: "run",
  subCommands: { run, "check-config": checkConfig, once, version },
});

export async function runCli(argv: string[]): Promise<void> {
  await runMain(main, { rawArgs: argv });
}
