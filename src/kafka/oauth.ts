/**
 * SASL/OAUTHBEARER for kafkajs: the OIDC client-credentials token provider librdkafka runs for
 * `sasl.oauthbearer.method = "oidc"` (tokens cached until shortly before expiry), and the SASL
 * exchange itself, which, unlike kafkajs' built-in one, notices when the broker rejects a token.
 */
import type { AuthenticationProviderArgs, Authenticator } from "kafkajs";
import type { OidcSettings } from "./connection-options.ts";

export interface OauthToken {
  value: string;
  extensions?: Record<string, string>;
}

/** kafkajs' `oauthBearerProvider`, plus a way to drop a token the broker refused. */
export type OidcTokenProvider = (() => Promise<OauthToken>) & { invalidate(token: OauthToken): void };

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
): OidcTokenProvider {
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

  const provider = async () => {
    if (cached !== undefined && now() < cached.refreshAtMs) return cached.token;
    inflight ??= request().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
  return Object.assign(provider, {
    invalidate(token: OauthToken) {
      if (cached?.token === token) cached = undefined;
    },
  });
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

/**
 * kafkajs `authenticationProvider` for OAUTHBEARER (RFC 7628). kafkajs' built-in one sends the
 * token and takes any answer as success, but a broker that rejects a token (wrong issuer,
 * audience or signature, expired) answers with a JSON error challenge and waits for the client's
 * %x01 acknowledgement; kafkajs then sends its next request into the unfinished exchange and the
 * broker fails it with ILLEGAL_SASL_STATE ("Metadata error 34"). Here the challenge is
 * acknowledged and turned into an authentication error that says what happened, and the refused
 * token is dropped from the cache.
 */
export function oauthBearerAuthenticator(
  getToken: OidcTokenProvider,
): (args: AuthenticationProviderArgs) => Authenticator {
  return ({ host, port, saslAuthenticate }) => ({
    async authenticate() {
      const token = await getToken();
      const challenge = await saslAuthenticate<Buffer>({
        request: bytesRequest(Buffer.from(initialClientResponse(token))),
        response: { decode: async (raw: Buffer) => raw, parse: (data: Buffer) => unframe(data) },
      });
      if (challenge === undefined || challenge.length === 0) return;
      const detail = challenge
        .toString("utf8")
        .replace(/[^\x20-\x7e]/g, "")
        .slice(0, 300);
      // The server expects a lone %x01, then ends the exchange with an error of its own.
      await saslAuthenticate({ request: bytesRequest(Buffer.from([1])) }).catch(() => {});
      // The next attempt asks the identity provider for a new token (keys may have rotated).
      getToken.invalidate(token);
      const error = new Error(
        `SASL OAUTHBEARER authentication failed: broker ${host}:${port} rejected the token (${detail}); ` +
          "check the token's issuer, audience, expiry and signing key against the broker's OAuth settings",
      );
      error.name = "KafkaJSSASLAuthenticationError";
      throw error;
    },
  });
}

/** RFC 7628 §3.1 client initial response: gs2 header, auth=Bearer, extensions, terminated by two %x01. */
function initialClientResponse(token: OauthToken): string {
  const SOH = "\u0001";
  const extensions = Object.entries(token.extensions ?? {}).map(([k, v]) => `${SOH}${k}=${v}`);
  return `n,,${SOH}auth=Bearer ${token.value}${extensions.join("")}${SOH}${SOH}`;
}

/** kafkajs writes the request's bytes as they are: Kafka BYTES, i.e. an int32 length and the payload. */
function bytesRequest(payload: Buffer): { encode: () => Promise<Buffer> } {
  return {
    encode: async () => {
      const out = Buffer.alloc(4 + payload.length);
      out.writeInt32BE(payload.length, 0);
      payload.copy(out, 4);
      return out;
    },
  };
}

/** kafkajs hands the server's auth bytes back length-prefixed (see saslAuthenticate/v1/response.js). */
function unframe(data: Buffer): Buffer {
  if (data.length >= 4) {
    const length = data.readInt32BE(0);
    if (length === -1) return Buffer.alloc(0);
    if (length === data.length - 4) return data.subarray(4);
  }
  return data;
}
