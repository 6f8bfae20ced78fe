import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  DOC_PATH,
  extractSample,
  renderMetricsDoc,
  SAMPLE_BEGIN,
  SAMPLE_END,
} from "../../../scripts/gen-metrics-doc.ts";
import { ALL_METRICS } from "../../../src/metrics/catalog.ts";

describe("docs/metrics.md", () => {
  const doc = readFileSync(DOC_PATH, "utf8");

  test("is what the generator makes from the catalog (run scripts/gen-metrics-doc.ts)", () => {
    expect(doc).toBe(renderMetricsDoc(extractSample(doc)));
  });

  test("lists every metric of the catalog with its labels", () => {
    for (const def of ALL_METRICS) {
      const row = doc.split("\n").find((line) => line.startsWith(`| \`${def.name}\``));
      expect(row).toBeDefined();
      for (const label of def.labels) expect(row).toContain(`\`${label}\``);
    }
  });

  test("keeps whatever sample scrape sits between the markers", () => {
    const sample = "\n```\nkafka_lag_exporter_up 1\n```\n";
    const regenerated = renderMetricsDoc(sample);
    expect(extractSample(regenerated)).toBe(sample);
    expect(renderMetricsDoc(extractSample(regenerated))).toBe(regenerated);
    expect(regenerated.indexOf(SAMPLE_BEGIN)).toBeLessThan(regenerated.indexOf(SAMPLE_END));
  });
});
