import { describe, expect, test } from "bun:test";
import {
  acceptsGzip,
  CONTENT_TYPE,
  encodeFamilies,
  escapeHelp,
  escapeLabelValue,
  familyName,
  formatValue,
  negotiate,
  renderFamilyHeader,
  renderLabelPairs,
  renderSample,
  unescapeLabelText,
} from "../../../src/metrics/prometheus-text.ts";

describe("escapeLabelValue", () => {
  const rows: [string, string, string][] = [
    ["plain text is unchanged", "orders-service", "orders-service"],
    ["empty stays empty", "", ""],
    ["backslash is doubled", "C:\\tmp", "C:\\\\tmp"],
    ["double quote is escaped", 'say "hi"', 'say \\"hi\\"'],
    ["newline becomes \\n", "a\nb", "a\\nb"],
    ["all three together, in place", '\\"\n', '\\\\\\"\\n'],
    ["tab and carriage return are left alone", "a\tb\rc", "a\tb\rc"],
    ["non-ASCII is left alone", "Zürich 🚀", "Zürich 🚀"],
  ];
  for (const [name, input, expected] of rows) {
    test(name, () => expect(escapeLabelValue(input)).toBe(expected));
  }
});

describe("escapeHelp", () => {
  const rows: [string, string, "prometheus" | "openmetrics", string][] = [
    ["Prometheus escapes backslash and newline", "a\\b\nc", "prometheus", "a\\\\b\\nc"],
    ["Prometheus leaves double quotes alone", 'the "lag"', "prometheus", 'the "lag"'],
    ["OpenMetrics escapes double quotes too", 'the "lag"\n', "openmetrics", 'the \\"lag\\"\\n'],
  ];
  for (const [name, input, format, expected] of rows) {
    test(name, () => expect(escapeHelp(input, format)).toBe(expected));
  }
});

describe("formatValue prints like Go's strconv.FormatFloat(v, 'g', -1, 64) except for safe integers", () => {
  const rows: [string, number, string][] = [
    ["zero", 0, "0"],
    ["negative zero prints as zero", -0, "0"],
    ["one", 1, "1"],
    ["negative integer", -3, "-3"],
    ["an offset in the millions has no exponent", 123456789, "123456789"],
    ["2^53 has no exponent", 2 ** 53, "9007199254740992"],
    ["-2^53 has no exponent", -(2 ** 53), "-9007199254740992"],
    ["an integer above 2^53 uses Go's exponent form", 2 ** 53 + 2, "9.007199254740994e+15"],
    ["1e21 uses Go's exponent form", 1e21, "1e+21"],
    ["simple fraction", 0.5, "0.5"],
    ["shortest round trip", 0.1 + 0.2, "0.30000000000000004"],
    ["small fraction still fixed at exponent -4", 0.0001234, "0.0001234"],
    ["exponent -5 switches to e-notation with two exponent digits", 0.00001, "1e-05"],
    ["small with mantissa digits", 1.5e-7, "1.5e-07"],
    ["fraction below 1e6 stays fixed", 123456.5, "123456.5"],
    ["fraction at 1e6 or above uses e-notation", 1234567.5, "1.2345675e+06"],
    ["three-digit exponent", 1e100, "1e+100"],
    ["largest double", Number.MAX_VALUE, "1.7976931348623157e+308"],
    ["smallest subnormal", 5e-324, "5e-324"],
    ["negative fraction", -1.25, "-1.25"],
    ["NaN", Number.NaN, "NaN"],
    ["positive infinity", Number.POSITIVE_INFINITY, "+Inf"],
    ["negative infinity", Number.NEGATIVE_INFINITY, "-Inf"],
  ];
  for (const [name, input, expected] of rows) {
    test(name, () => expect(formatValue(input)).toBe(expected));
  }

  test("every formatted finite value parses back to the same number", () => {
    for (const v of [0.1, 1 / 3, 2 / 3e10, 7e-9, 12345.678, 98765432.1, 1e-300, 3.14159e250]) {
      expect(Number(formatValue(v))).toBe(v);
    }
  });
});

describe("renderLabelPairs and unescapeLabelText", () => {
  test("renders names and escaped values in the order given", () => {
    expect(renderLabelPairs(["cluster_name", "partition", "data_loss_detected"], ['a"b', 7, false])).toBe(
      'cluster_name="a\\"b",partition="7",data_loss_detected="false"',
    );
  });

  test("an empty label set renders as empty text", () => {
    expect(renderLabelPairs([], [])).toBe("");
  });

  test("unescaping restores the original values", () => {
    const values = ["x\\y", 'q"q', "line\nbreak", "", "Zürich", 'tricky\\"', '",a="b'];
    const names = values.map((_, i) => `l${i}`);
    const parsed = unescapeLabelText(renderLabelPairs(names, values));
    expect(parsed).toEqual(Object.fromEntries(names.map((n, i) => [n, values[i]!])));
  });

  test("unescaping empty text gives no labels", () => {
    expect(unescapeLabelText("")).toEqual({});
  });
});

describe("sample lines and family headers", () => {
  test("a sample without labels has no braces", () => {
    expect(renderSample("kafka_lag_exporter_up", "", 1)).toBe("kafka_lag_exporter_up 1\n");
  });

  test("a sample with labels has braces and formatted value", () => {
    expect(renderSample("m", 'a="1"', Number.NaN)).toBe('m{a="1"} NaN\n');
  });

  test("Prometheus header is HELP then TYPE under the sample name", () => {
    expect(renderFamilyHeader({ name: "x_total", help: "Counts\\things", type: "counter" }, "prometheus")).toBe(
      "# HELP x_total Counts\\\\things\n# TYPE x_total counter\n",
    );
  });

  test("OpenMetrics names a counter family without its _total suffix", () => {
    expect(familyName({ name: "x_total", help: "", type: "counter" }, "openmetrics")).toBe("x");
    expect(renderFamilyHeader({ name: "x_total", help: 'a "b"', type: "counter" }, "openmetrics")).toBe(
      '# HELP x a \\"b\\"\n# TYPE x counter\n',
    );
  });

  test("OpenMetrics keeps a gauge's name even when it ends in _total", () => {
    expect(familyName({ name: "y_total", help: "", type: "gauge" }, "openmetrics")).toBe("y_total");
  });
});

describe("encodeFamilies", () => {
  const families = [
    { name: "b_metric", help: "B.", type: "gauge" as const, samples: [{ labels: { k: "2" }, value: 2 }] },
    { name: "a_total", help: "A.", type: "counter" as const, samples: [{ value: 10 }] },
    { name: "c_empty", help: "Nothing.", type: "gauge" as const, samples: [] },
  ];

  test("sorts families by name, omits empty ones and ends with a newline", () => {
    expect(encodeFamilies(families, "prometheus")).toBe(
      "# HELP a_total A.\n# TYPE a_total counter\na_total 10\n" +
        '# HELP b_metric B.\n# TYPE b_metric gauge\nb_metric{k="2"} 2\n',
    );
  });

  test("OpenMetrics output strips _total from the counter family and ends with # EOF", () => {
    expect(encodeFamilies(families, "openmetrics")).toBe(
      "# HELP a A.\n# TYPE a counter\na_total 10\n" +
        '# HELP b_metric B.\n# TYPE b_metric gauge\nb_metric{k="2"} 2\n# EOF\n',
    );
  });

  test("no families give an empty Prometheus exposition and a bare # EOF in OpenMetrics", () => {
    expect(encodeFamilies([], "prometheus")).toBe("");
    expect(encodeFamilies([], "openmetrics")).toBe("# EOF\n");
  });
});

describe("negotiate", () => {
  const rows: [string, string | null | undefined, "prometheus" | "openmetrics"][] = [
    ["no header gives Prometheus text", undefined, "prometheus"],
    ["null header gives Prometheus text", null, "prometheus"],
    ["empty header gives Prometheus text", "", "prometheus"],
    [
      "Prometheus 2.x scrape header prefers OpenMetrics 1.0.0",
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      "openmetrics",
    ],
    [
      "Prometheus configured for text first gets text",
      "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5",
      "prometheus",
    ],
    [
      "Prometheus 3.x scrape header (escaping parameter, protobuf offered) gets OpenMetrics",
      "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6," +
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4," +
        "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
      "openmetrics",
    ],
    [
      "protobuf alone falls back to text",
      "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily",
      "prometheus",
    ],
    ["OpenMetrics without a version is accepted", "application/openmetrics-text", "openmetrics"],
    [
      "OpenMetrics 0.0.1 is served as the identical 1.0.0 format",
      "application/openmetrics-text; version=0.0.1",
      "openmetrics",
    ],
    ["an unknown OpenMetrics version falls back to text", "application/openmetrics-text;version=2.0.0", "prometheus"],
    ["q=0 refuses OpenMetrics", "application/openmetrics-text;q=0, text/plain", "prometheus"],
    ["higher q wins regardless of position", "text/plain;q=0.2, application/openmetrics-text;q=0.9", "openmetrics"],
    ["a tie goes to the earlier range", "text/plain;q=0.5, application/openmetrics-text;q=0.5", "prometheus"],
    ["curl's */* gives text", "*/*", "prometheus"],
    ["media types are case-insensitive", "Application/OpenMetrics-Text; Version=1.0.0", "openmetrics"],
    ["garbage gives text", ";;,,=", "prometheus"],
  ];
  for (const [name, header, expected] of rows) {
    test(name, () => expect(negotiate(header)).toBe(expected));
  }

  test("content types are the exact strings Prometheus expects", () => {
    expect(CONTENT_TYPE.prometheus).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(CONTENT_TYPE.openmetrics).toBe("application/openmetrics-text; version=1.0.0; charset=utf-8");
  });
});

describe("acceptsGzip", () => {
  const rows: [string, string | null | undefined, boolean][] = [
    ["no header means no gzip", undefined, false],
    ["Prometheus' header allows gzip", "gzip", true],
    ["a list with gzip allows it", "deflate, gzip;q=1.0, *;q=0.5", true],
    ["gzip;q=0 refuses it", "gzip;q=0, identity", false],
    ["a wildcard allows gzip", "*", true],
    ["a wildcard does not override an explicit refusal", "*, gzip;q=0", false],
    ["identity only means no gzip", "identity", false],
    ["x-gzip counts as gzip", "x-gzip", true],
  ];
  for (const [name, header, expected] of rows) {
    test(name, () => expect(acceptsGzip(header)).toBe(expected));
  }
});

describe("formatValue around the fixed/exponent boundaries", () => {
  const rows: [number, string][] = [
    [0.0001, "0.0001"],
    [0.00009999999999999999, "9.999999999999999e-05"],
    [999999.9999999999, "999999.9999999999"],
    [1000000.0000000001, "1.0000000000000001e+06"],
    [-0.0001, "-0.0001"],
    [-999999.5, "-999999.5"],
  ];
  for (const [input, expected] of rows) {
    test(`${expected} is written like Go`, () => expect(formatValue(input)).toBe(expected));
  }
});
