/**
 * Structured logging: one line per event on stderr, JSON or logfmt, with a level filter and a
 * `once` helper so a recurring cause is logged once until it clears. Imports nothing of ours.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "json" | "logfmt";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Logs at `level` only the first time `key` is seen (until `clearOnce(key)`). */
  once(key: string, level: LogLevel, msg: string, fields?: LogFields): void;
  clearOnce(prefix: string): void;
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
export const LOG_LEVELS = Object.keys(ORDER) as LogLevel[];

export function isLogLevel(v: string): v is LogLevel {
  return v in ORDER;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  write?: (line: string) => void;
  now?: () => Date;
  /** Strings that must never appear in a log line (secrets); replaced by <redacted>. */
  secrets?: readonly string[];
}

export function createLogger(opts: LoggerOptions, base: LogFields = {}, onceKeys = new Set<string>()): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const now = opts.now ?? (() => new Date());
  const secrets = (opts.secrets ?? []).filter((s) => s.length >= 4);
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (ORDER[level] < ORDER[opts.level]) return;
    const record: LogFields = { ts: now().toISOString(), level, msg, ...base, ...fields };
    let line = opts.format === "json" ? JSON.stringify(record, jsonReplacer) : toLogfmt(record);
    for (const s of secrets) if (line.includes(s)) line = line.split(s).join("<redacted>");
    write(line);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    once(key, level, msg, fields) {
      if (onceKeys.has(key)) return;
      onceKeys.add(key);
      emit(level, msg, fields);
    },
    clearOnce(prefix) {
      for (const k of onceKeys) if (k.startsWith(prefix)) onceKeys.delete(k);
    },
    child: (fields) => createLogger(opts, { ...base, ...fields }, onceKeys),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === "bigint") return value.toString();
  return value;
}

function toLogfmt(record: LogFields): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(record)) {
    if (v === undefined) continue;
    const s = v instanceof Error ? v.message : typeof v === "string" ? v : JSON.stringify(v, jsonReplacer);
    parts.push(`${k}=${/[\s"=\\]/.test(s) || s === "" ? JSON.stringify(s) : s}`);
  }
  return parts.join(" ");
}
