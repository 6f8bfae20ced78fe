/**
 * Whitelist/blacklist name filters for groups and topics. Pure.
 * Semantics follow the reference (Rust `Regex::is_match`): a pattern matches if it matches
 * anywhere in the name, so `__.*` excludes `__consumer_offsets`; anchor with `^…$` for exact names.
 */

export type NameFilter = (name: string) => boolean;

/** A name passes when some whitelist pattern matches it and no blacklist pattern does. */
export function createNameFilter(whitelist: readonly string[], blacklist: readonly string[]): NameFilter {
  const allow = whitelist.map((p) => new RegExp(p));
  const deny = blacklist.map((p) => new RegExp(p));
  const cache = new Map<string, boolean>();
  return (name) => {
    let verdict = cache.get(name);
    if (verdict === undefined) {
      verdict = allow.some((r) => r.test(name)) && !deny.some((r) => r.test(name));
      // Names repeat every cycle; the cache is bounded by the number of distinct names seen.
      if (cache.size > 100_000) cache.clear();
      cache.set(name, verdict);
    }
    return verdict;
  };
}
