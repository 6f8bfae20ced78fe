/** OIDC client-credentials token provider for SASL/OAUTHBEARER, against a real loopback token endpoint. */
import { afterAll, describe, expect, test } from "bun:test";
import { createOidcTokenProvider } from "../../../src/kafka/oauth.ts";

const seen: { authorization: string | null; form: string }[] = [];
let status = 200;
let issued = 0;
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    seen.push({ authorization: req.headers.get("authorization"), form: await req.text() });
    if (status !== 200) return new Response("nope", { status });
    issued++;
    return Response.json({ access_token: `token-${issued}`, token_type: "bearer", expires_in: 100 });
  },
});
afterAll(() => server.stop(true));

const endpoint = `http://127.0.0.1:${server.port}/token`;

describe("createOidcTokenProvider", () => {
  test("posts client credentials with basic auth and scope, and caches the token until near expiry", async () => {
    let nowMs = 1_000_000;
    const provider = createOidcTokenProvider(
      {
        tokenEndpoint: endpoint,
        clientId: "exporter",
        clientSecret: "s3cret",
        scope: "kafka",
        extensions: { logicalCluster: "lkc-1" },
      },
      { timeoutMs: 2000, now: () => nowMs },
    );
    const first = await provider();
    expect(first).toEqual({ value: `token-${issued}`, extensions: { logicalCluster: "lkc-1" } });
    const request = seen.at(-1)!;
    expect(request.authorization).toBe(`Basic ${Buffer.from("exporter:s3cret").toString("base64")}`);
    expect(new URLSearchParams(request.form).get("grant_type")).toBe("client_credentials");
    expect(new URLSearchParams(request.form).get("scope")).toBe("kafka");

    nowMs += 70_000; // 100 s lifetime, refreshed 20 s early
    expect(await provider()).toBe(first);
    const calls = seen.length;
    nowMs += 11_000;
    const second = await provider();
    expect(second.value).not.toBe(first.value);
    expect(seen.length).toBe(calls + 1);
  });

  test("concurrent callers share one token request", async () => {
    const provider = createOidcTokenProvider(
      { tokenEndpoint: endpoint, clientId: "exporter", clientSecret: "s3cret", extensions: {} },
      { timeoutMs: 2000 },
    );
    const calls = seen.length;
    const [a, b, c] = await Promise.all([provider(), provider(), provider()]);
    expect(seen.length).toBe(calls + 1);
    expect(a).toEqual({ value: b.value });
    expect(c.value).toBe(a.value);
  });

  test("an HTTP error fails without revealing the secret", async () => {
    status = 401;
    try {
      const provider = createOidcTokenProvider(
        { tokenEndpoint: endpoint, clientId: "exporter", clientSecret: "s3cret", extensions: {} },
        { timeoutMs: 2000 },
      );
      const error = await provider().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error?.message).toContain("401");
      expect(error?.message).not.toContain("s3cret");
    } finally {
      status = 200;
    }
  });
});
