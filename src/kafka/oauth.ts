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
 * Returns kafkajs' `oauthBearerProvider`. Each call reuses the cached token while it has more
 * than 20% (at most 60 s) of its lifetime left; otherwise POSTs
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

  const request = async (): Promise<OauthToken> => {
    const form = new URLSearchParams({ grant_type: "client_credentials" });
    if (oidc.scope !== undefined) form.set("scope", oidc.scope);
    const basic = Buffer.from(`${encodeURIComponent(oidc.clientId)}:${encodeURIComponent(oidc.clientSecret)}`).toString(
      "base64",
    );
    const started = now();
    const response = await doFetch(oidc.tokenEndpoint, {
      method: "POST",
      headers: {
        authorization: `Basic ${basic}`,
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: form.toString(),
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    if (!response.ok) throw new Error(`OIDC token endpoint ${oidc.tokenEndpoint} answered HTTP ${response.status}`);
    const body = (await response.json()) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== "string" || body.access_token === "") {
      throw new Error(`OIDC token endpoint ${oidc.tokenEndpoint} returned no access_token`);
    }
    const lifetimeMs = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in * 1000 : 300_000;
    const token: OauthToken = { value: body.access_token };
    if (Object.keys(oidc.extensions).length > 0) token.extensions = { ...oidc.extensions };
    cached = { token, refreshAtMs: started + lifetimeMs - Math.min(60_000, lifetimeMs * 0.2) };
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
