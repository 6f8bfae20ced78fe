/** Version and build stamp. build.ts defines KLAG_BUILD_* at compile time; dev runs read package.json. */
import pkg from "../../package.json" with { type: "json" };

declare const KLAG_BUILD_VERSION: string | undefined;
declare const KLAG_BUILD_COMMIT: string | undefined;

export const BUILD = {
  version: typeof KLAG_BUILD_VERSION === "string" ? KLAG_BUILD_VERSION : `${pkg.version}-dev`,
  commit: typeof KLAG_BUILD_COMMIT === "string" ? KLAG_BUILD_COMMIT : "unknown",
  runtime: `bun ${Bun.version}`,
} as const;
