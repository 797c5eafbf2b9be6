/** Host parsing, site matching, the tag index and per-VM override tags. */
import assert from "node:assert/strict";
import type { SiteConfig } from "../../src/config/types.ts";
import { InvalidHostError, normalizeHost } from "../../src/routing/host.ts";
import { parseOverrides } from "../../src/routing/overrides.ts";
import { matchSite } from "../../src/routing/sites.ts";
import { TagIndex } from "../../src/routing/tag-index.ts";
import type { SlicerNode } from "../../src/slicer/client.ts";
import type { CaseGroup } from "../support/cases.ts";
import { catchAllSite, implicitSite, wildcardSite } from "../harness/relight.ts";

function node(hostname: string, tags: string[], hostGroup = "apps"): SlicerNode {
  return { hostname, hostGroup, ip: "127.0.0.2", tags, status: "running", rawStatus: "Running" };
}

/** Resolves `host` to a VM hostname the way the router does, or undefined. */
function route(sites: SiteConfig[], index: TagIndex, host: string): string | undefined {
  const matched = matchSite(sites, normalizeHost(host));
  if (matched === undefined) return undefined;
  for (const tag of matched.tags) {
    const hostname = index.lookup(matched.site.hostGroup, tag);
    if (hostname !== undefined) return hostname;
  }
  return undefined;
}

const index = new TagIndex([
  node("apps-1", ["myapp", "myapp.com"]),
  node("apps-2", ["Blog"]),
  node("apps-3", ["shop.example.org", "relight.app_port=3000"]),
  node("other-1", ["internal"], "other"),
]);

export const routingCases: CaseGroup = {
  name: "routing",
  cases: [
    {
      name: "host normalization table",
      run() {
        const table: [string, string][] = [
          ["MyApp.COM", "myapp.com"],
          ["myapp.com:8080", "myapp.com"],
          ["myapp.com.", "myapp.com"],
          ["myapp.com.:443", "myapp.com"],
          ["localhost:", "localhost"],
          ["[::1]:8080", "[::1]"],
          ["[FE80::1]", "[fe80::1]"],
          ["127.0.0.1:80", "127.0.0.1"],
          ["under_score.example", "under_score.example"],
        ];
        for (const [input, expected] of table) {
          assert.equal(normalizeHost(input), expected, `normalizeHost(${JSON.stringify(input)})`);
        }
      },
    },
    {
      name: "malformed hosts are rejected",
      run() {
        const bad = [
          "",
          "myapp.com..",
          "a..b",
          ".myapp.com",
          "myapp.com:99999",
          "myapp.com:80a",
          "my app.com",
          "myapp.com/evil",
          "user@myapp.com",
          "[::1",
          "[::1]x",
          "[zz::1]",
          "-bad.example",
          `${"a".repeat(64)}.example`,
        ];
        for (const input of bad) {
          assert.throws(() => normalizeHost(input), InvalidHostError, JSON.stringify(input));
        }
        assert.throws(() => normalizeHost(null), InvalidHostError, "missing Host");
      },
    },
    {
      name: "wildcard site takes the first label",
      run() {
        const sites = [wildcardSite("apps.example.com")];
        assert.equal(route(sites, index, "myapp.apps.example.com"), "apps-1");
        assert.equal(route(sites, index, "BLOG.apps.example.com"), "apps-2");
      },
    },
    {
      name: "wildcard site needs exactly one label",
      run() {
        const sites = [wildcardSite("apps.example.com")];
        assert.equal(route(sites, index, "x.myapp.apps.example.com"), undefined);
        assert.equal(route(sites, index, "apps.example.com"), undefined);
        assert.equal(route(sites, index, "myapp.example.com"), undefined);
      },
    },
    {
      name: "catch-all site matches exact tags only",
      run() {
        const sites = [wildcardSite("apps.example.com"), catchAllSite()];
        assert.equal(route(sites, index, "myapp.com"), "apps-1");
        assert.equal(route(sites, index, "shop.example.org"), "apps-3");
        assert.equal(route(sites, index, "myapp"), "apps-1");
      },
    },
    {
      name: "attacker host never reaches a tag",
      run() {
        const sites = [wildcardSite("apps.example.com"), catchAllSite()];
        assert.equal(route(sites, index, "myapp.attacker.example"), undefined);
        assert.equal(route(sites, index, "myapp.apps.example.com.attacker.example"), undefined);
        assert.equal(route(sites, index, "blog.attacker.example"), undefined);
      },
    },
    {
      name: "implicit site tries exact then label",
      run() {
        const sites = [implicitSite()];
        assert.equal(route(sites, index, "myapp.com"), "apps-1");
        assert.equal(route(sites, index, "blog.localhost:8080"), "apps-2");
        assert.equal(route(sites, index, "nothing.localhost"), undefined);
      },
    },
    {
      name: "only the site's host group matches",
      run() {
        assert.equal(route([catchAllSite()], index, "internal"), undefined);
        assert.equal(route([catchAllSite({ hostGroup: "other" })], index, "internal"), "other-1");
        assert.equal(route([catchAllSite({ hostGroup: "other" })], index, "myapp"), undefined);
      },
    },
    {
      name: "exact site matches its hostname",
      run() {
        const site: SiteConfig = {
          ...catchAllSite(),
          pattern: "myapp.com",
          match: { kind: "exact", hostname: "myapp.com" },
        };
        assert.equal(route([site], index, "myapp.com"), "apps-1");
        assert.equal(route([site], index, "blog"), undefined);
      },
    },
    {
      name: "setting tags are not routing tags",
      run() {
        assert.equal(index.lookup("apps", "relight.app_port=3000"), undefined);
      },
    },
    {
      name: "shared tag routes to first hostname",
      run() {
        const shared = new TagIndex([node("apps-2", ["dup"]), node("apps-1", ["DUP"])]);
        assert.equal(shared.lookup("apps", "dup"), "apps-1");
        assert.equal(shared.conflicts.length, 1);
        assert.equal(shared.conflicts[0]?.ignored, "apps-2");
      },
    },
    {
      name: "override tags are parsed",
      run() {
        const { overrides, problems } = parseOverrides([
          "myapp",
          "relight.app_port=3000",
          "relight.idle_timeout=10m",
        ]);
        assert.equal(overrides.appPort, 3000);
        assert.equal(overrides.idleTimeoutMs, 600_000);
        assert.deepEqual(problems, []);
      },
    },
    {
      name: "never opts out of pausing",
      run() {
        const { overrides } = parseOverrides(["relight.idle_timeout=never"]);
        assert.equal(overrides.idleTimeoutMs, null);
      },
    },
    {
      name: "invalid override tags are reported",
      run() {
        const { overrides, problems } = parseOverrides([
          "relight.app_port=0",
          "relight.app_port=http",
          "relight.idle_timeout=10s",
          "relight.idle_timeout=soon",
          "relight.colour=blue",
        ]);
        assert.deepEqual(overrides, {});
        assert.equal(problems.length, 5);
        assert.match(problems[2]?.message ?? "", /below the minimum of 30s/);
      },
    },
  ],
};
