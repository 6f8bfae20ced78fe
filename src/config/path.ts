/**
 * Key paths for config problems: `exporter.http_port`, `clusters[1].topic_whitelist[0]`,
 * `clusters[0].consumer_properties["sasl.mechanism"]`. Pure.
 */

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** The path of `key` (a table key or an array index) under `parent` ("" is the document root). */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === "number") return `${parent}[${key}]`;
  if (BARE_KEY.test(key)) return parent === "" ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

/** How a section is written in TOML, for messages: `exporter.otel` → `[exporter.otel]`, `clusters[2]` → `[[clusters]]`. */
export function sectionLabel(path: string): string {
  if (path === "") return "the top level";
  if (/^clusters\[\d+\]$/.test(path)) return "[[clusters]]";
  return `[${path.replace(/\[\d+\]/g, "")}]`;
}
