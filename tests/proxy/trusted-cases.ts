/** Parsing and matching of `trusted_proxies` entries. */
import assert from "node:assert/strict";
import { parseTrustedProxies } from "../../src/proxy/index.ts";
import type { CaseGroup } from "../support/cases.ts";

export const trustedCases: CaseGroup = {
  name: "trusted proxies",
  cases: [
    {
      name: "addresses and ranges match",
      run() {
        const trusted = parseTrustedProxies([
          "10.0.0.0/8",
          "192.168.1.7",
          "fd00::/8",
          "::1",
          "172.16.5.9/12",
        ]);
        const table: [string, boolean][] = [
          ["10.1.2.3", true],
          ["11.0.0.1", false],
          ["192.168.1.7", true],
          ["192.168.1.8", false],
          ["fd12:3456::1", true],
          ["fe80::1", false],
          ["::1", true],
          ["::2", false],
          ["::ffff:10.9.9.9", true],
          ["::ffff:11.9.9.9", false],
          ["172.31.255.255", true],
          ["172.32.0.0", false],
          ["[::1]", true],
          ["", false],
          ["not-an-ip", false],
        ];
        for (const [address, expected] of table) {
          assert.equal(trusted.contains(address), expected, address);
        }
      },
    },
    {
      name: "empty list trusts nobody",
      run() {
        assert.equal(parseTrustedProxies([]).contains("127.0.0.1"), false);
      },
    },
    {
      name: "zero prefix matches every address",
      run() {
        const trusted = parseTrustedProxies(["0.0.0.0/0"]);
        assert.equal(trusted.contains("203.0.113.1"), true);
        assert.equal(trusted.contains("2001:db8::1"), false);
      },
    },
    {
      name: "embedded IPv4 in IPv6 entry",
      run() {
        const trusted = parseTrustedProxies(["64:ff9b::10.0.0.1"]);
        assert.equal(trusted.contains("64:ff9b::a00:1"), true);
        assert.equal(trusted.contains("64:ff9b::a00:2"), false);
      },
    },
    {
      name: "invalid entries rejected",
      run() {
        for (
          const entry of ["10.0.0.0/33", "::/129", "10.0.0.256", "example.com", "10.0.0.0/", "/8"]
        ) {
          assert.throws(
            () => parseTrustedProxies([entry]),
            (error: Error) => error.message.includes(`"${entry}"`),
            entry,
          );
        }
      },
    },
  ],
};
