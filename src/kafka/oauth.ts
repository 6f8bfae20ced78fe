/**
 * SASL/OAUTHBEARER token provider for kafkajs: the OIDC client-credentials flow librdkafka
 * runs for `sasl.oauthbearer.method = "oidc"`. Tokens are cached until shortly before expiry.
 */
import type { OidcSettings } from "./connection-options.ts";

export interface OauthToken {
  value: string;
  extensions?: Record<string, string>;
}

/**
 * kafkajs re-authenticates a connection when its SASL session (bounded by the token's expiry on
 * brokers with `connections.max.reauth.ms`) has less than this left (its default
 * `reauthenticationThreshold`). A token handed out must outlive it by a margin, or every request
 * re-authenticates with the same nearly-expired token.
 */
const KAFKAJS_REAUTH_THRESHOLD_MS = 10_000;
const MIN_REFRESH_MARGIN_MS = KAFKAJS_REAUTH_THRESHOLD_MS + 5_000;

/**
 * Returns kafkajs' `oauthBearerProvider`. Each call reuses the cached token while it has more
 * than 20% of its lifetime (at most 60 s, at least 15 s) left; otherwise POSTs
 * `grant_type=client_credentials` (client id/secret as HTTP basic auth, optional scope) to the
 * token endpoint. Errors never include the secret.
 */
export function createOidcTokenProvider(
  oidc: OidcSettings,
  opts: { timeoutMs: number; fetch?: typeof fetch; now?: () => number },
): () => Promise<OauthToken> {
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  let cached: { token: OauthToken; refreshAtMs: number } | undefined;
  let inflight: Promise<OauthToken> | undefined;
  const where = withoutUserinfo(oidc.tokenEndpoint);

  const request = async (): Promise<OauthToken> => {
    const form = new URLSearchParams({ grant_type: "client_credentials" });
    if (oidc.scope !== undefined) form.set("scope", oidc.scope);
    const basic = Buffer.from(`${encodeURIComponent(oidc.clientId)}:${encodeURIComponent(oidc.clientSecret)}`).toString(
      "base64",
    );
    const started = now();
    let response: Response;
    try {
      response = await doFetch(oidc.tokenEndpoint, {
        method: "POST",
        headers: {
          authorization: `Basic ${basic}`,
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
        },
        body: form.toString(),
        signal: AbortSignal.timeout(opts.timeoutMs),
        redirect: "error",
      });
    } catch (error) {
      const e = error as { name?: string; message?: string };
      const why = e?.name === "TimeoutError" ? `no answer in ${opts.timeoutMs} ms` : (e?.message ?? String(error));
      throw new Error(`OIDC token endpoint ${where} unreachable: ${why}`);
    }
    if (!response.ok) throw new Error(`OIDC token endpoint ${where} answered HTTP ${response.status}`);
    let body: { access_token?: unknown; expires_in?: unknown };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      throw new Error(`OIDC token endpoint ${where} answered with something that is not JSON`);
    }
    if (typeof body?.access_token !== "string" || body.access_token === "") {
      throw new Error(`OIDC token endpoint ${where} returned no access_token`);
    }
    const lifetimeMs = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in * 1000 : 300_000;
    const token: OauthToken = { value: body.access_token };
    if (Object.keys(oidc.extensions).length > 0) token.extensions = { ...oidc.extensions };
    const margin = Math.max(Math.min(60_000, lifetimeMs * 0.2), MIN_REFRESH_MARGIN_MS);
    cached = { token, refreshAtMs: started + lifetimeMs - margin };
    return token;
  };

  return async () => {
    if (cached !== undefined && now() < cached.refreshAtMs) return cached.token;
    inflight ??= request().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
}

/** The URL without `user:password@` (messages must not carry credentials). */
function withoutUserinfo(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return "(malformed URL)";
  }
}
