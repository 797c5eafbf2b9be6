/**
 * Site matching: which configured site serves a hostname, and which tags to
 * look up for it, in order.
 */
import type { SiteConfig } from "../config/types.ts";

/** A site that serves a hostname and the tags to try for it, best first. */
export interface SiteRoute {
  site: SiteConfig;
  tags: string[];
}

/**
 * Returns the first site whose pattern matches `hostname` (already
 * normalized) and its candidate tags, or undefined when no site matches.
 *
 * The catch-all site `*` yields only the whole hostname, so
 * `myapp.attacker.example` can never reach the VM tagged `myapp`. A wildcard
 * site `*.apps.example.com` matches only hosts exactly one label under its
 * suffix and yields the whole hostname, then that label. The implicit site
 * (no `sites` configured) yields the whole hostname, then the first label of
 * any host with more than one label.
 */
export function matchSite(sites: readonly SiteConfig[], hostname: string): SiteRoute | undefined {
  for (const site of sites) {
    const tags = tagsFor(site, hostname);
    if (tags !== undefined) return { site, tags };
  }
  return undefined;
}

function tagsFor(site: SiteConfig, hostname: string): string[] | undefined {
  const match = site.match;
  switch (match.kind) {
    case "exact":
      return hostname === match.hostname ? [hostname] : undefined;
    case "exact-any":
      return [hostname];
    case "wildcard": {
      const label = singleLabelUnder(hostname, match.suffix);
      return label === undefined ? undefined : [hostname, label];
    }
    case "implicit": {
      const dot = hostname.indexOf(".");
      return dot <= 0 ? [hostname] : [hostname, hostname.slice(0, dot)];
    }
  }
}

/** Returns the label when `hostname` is `label.suffix` with exactly one label. */
function singleLabelUnder(hostname: string, suffix: string): string | undefined {
  const tail = suffix.startsWith(".") ? suffix : `.${suffix}`;
  if (!hostname.endsWith(tail)) return undefined;

  const label = hostname.slice(0, -tail.length);
  if (label === "" || label.includes(".")) return undefined;
  return label;
}
