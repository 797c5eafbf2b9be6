/**
 * The hostnames that route to a VM, listed from the VMs' tags, for the
 * ACME manager to order certificates for before any request arrives.
 */
import type { SiteConfig } from "../config/types.ts";
import { matchSite } from "../routing/sites.ts";
import type { Fleet } from "../vm/fleet.ts";

/**
 * Reports whether `name` routes to a known VM under `sites`, by the rule the
 * router and the ask server use, but without refreshing the index for an
 * unknown name.
 */
export function routesToVm(fleet: Fleet, sites: readonly SiteConfig[], name: string): boolean {
  const route = matchSite(sites, name.toLowerCase());
  return route !== undefined && fleet.find(route) !== undefined;
}

/**
 * Lists the names that route to a VM: each tag that is a hostname, and each
 * single-label tag under the suffix of every wildcard site. Only names for
 * which `routes` returns true are kept.
 *
 * NOTE: under the implicit site (no `sites` configured) a single-label tag
 * `myapp` routes `myapp.<any domain>`, which cannot be listed. Such names get
 * no certificate in advance; they are served by a certificate file or the
 * default certificate.
 */
export function routedNames(
  vms: readonly { tags: readonly string[] }[],
  sites: readonly SiteConfig[],
  routes: (name: string) => boolean,
): Set<string> {
  const suffixes = sites.flatMap((site) =>
    site.match.kind === "wildcard" ? [site.match.suffix] : []
  );

  const candidates = new Set<string>();
  for (const vm of vms) {
    for (const rawTag of vm.tags) {
      const tag = rawTag.toLowerCase();
      if (tag.includes(".")) {
        candidates.add(tag);
        continue;
      }
      for (const suffix of suffixes) candidates.add(`${tag}.${suffix}`);
    }
  }

  const names = new Set<string>();
  for (const name of candidates) {
    if (routes(name)) names.add(name);
  }
  return names;
}
