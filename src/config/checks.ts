/** Rules that span several keys of relight.yaml. */
import type { KeyPath, Problem } from "./document.ts";
import type { Config, ListenAddress } from "./types.ts";
import { formatListenAddress } from "./values.ts";

/** Records one problem at a key path. */
export type Report = (path: KeyPath, message: string, at?: "key" | "value") => void;

/**
 * Checks the rules about which keys may appear together. They run on the raw
 * data, so they are reported even when some values are invalid.
 */
export function checkExclusiveKeys(data: unknown): Problem[] {
  const problems: Problem[] = [];
  const slicer = field(data, "slicer");
  const tls = field(data, "tls");
  const acme = field(tls, "acme");

  const token = field(slicer, "token");
  if (token !== undefined && token !== null && token !== "" && isSet(field(slicer, "token_file"))) {
    problems.push({
      path: ["slicer", "token_file"],
      at: "key",
      message: "cannot be set together with slicer.token (keep one)",
    });
  }

  if (field(acme, "staging") === true && isSet(field(acme, "directory_url"))) {
    problems.push({
      path: ["tls", "acme", "staging"],
      at: "key",
      message: "cannot be true when tls.acme.directory_url is set (remove one)",
    });
  }

  const certificates = field(tls, "certificates");
  const hasCertificates = Array.isArray(certificates)
    ? certificates.length > 0
    : isSet(certificates);
  if (isSet(tls) && !hasCertificates && !isSet(acme)) {
    problems.push({
      path: ["tls"],
      at: "value",
      message: "needs certificates, acme, or both (HTTPS has no certificate otherwise)",
    });
  }
  return problems;
}

/** Returns `value[key]` when `value` is a mapping, else undefined. */
function field(value: unknown, key: string): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  return (value as Record<string, unknown>)[key];
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** Rejects two listeners on the same address; port 0 (any free port) never clashes. */
export function checkListenersDistinct(config: Config, report: Report): void {
  const listeners: [KeyPath, ListenAddress | undefined][] = [
    [["listen"], config.listen],
    [["ask", "listen"], config.ask?.listen],
    [["admin", "listen"], config.admin?.listen],
    [["tls", "listen"], config.tls?.listen],
  ];

  const used = new Map<string, string>();
  for (const [path, address] of listeners) {
    if (address === undefined || address.port === 0) continue;

    const text = formatListenAddress(address);
    const owner = used.get(text);
    if (owner !== undefined) {
      report(path, `"${text}" is already used by ${owner} (pick another port)`);
    } else {
      used.set(text, path.join("."));
    }
  }
}
