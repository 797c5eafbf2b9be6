/**
 * Loopback addresses for simulated VMs. Each simulator takes one /24 inside
 * 127.64.0.0/10 and hands out `.2` to `.254` from it, as slicerd hands out
 * addresses from a host group's subnet.
 */
import { createServer } from "node:net";

const firstHost = 2;
const lastHost = 254;

/** Picks a random /24 prefix inside 127.64.0.0/10, such as "127.93.17". */
export function randomAddressPrefix(): string {
  const second = 64 + Math.floor(Math.random() * 64);
  const third = Math.floor(Math.random() * 256);
  return `127.${second}.${third}`;
}

/** Checks that `prefix` is three octets inside 127.0.0.0/8. */
export function validateAddressPrefix(prefix: string): void {
  const octets = prefix.split(".");
  const valid = octets.length === 3 && octets[0] === "127" &&
    octets.every((octet) => /^\d{1,3}$/.test(octet) && Number(octet) <= 255);
  if (!valid) {
    throw new RangeError(
      `Invalid address prefix "${prefix}": use three octets inside 127.0.0.0/8, such as "127.70.3"`,
    );
  }
}

/** Tries to bind `host:port` and returns false when another socket already uses it. */
function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") resolve(false);
      else reject(error);
    });
    probe.listen({ host, port, exclusive: true }, () => {
      probe.close(() => resolve(true));
    });
  });
}

export class AddressPool {
  readonly #prefix: string;
  readonly #inUse = new Set<string>();

  constructor(prefix: string) {
    validateAddressPrefix(prefix);
    this.#prefix = prefix;
  }

  /**
   * Reserves the lowest free address whose `port` can be bound, skipping
   * addresses that another process already uses on that port.
   */
  async allocate(port: number): Promise<string> {
    for (let host = firstHost; host <= lastHost; host++) {
      const address = `${this.#prefix}.${host}`;
      if (this.#inUse.has(address)) continue;

      // Reserve before the probe so that a concurrent allocation skips it.
      this.#inUse.add(address);
      if (await canBind(address, port)) return address;
      this.#inUse.delete(address);
    }
    throw new Error(`No free address in ${this.#prefix}.0/24 for port ${port}`);
  }

  release(address: string): void {
    this.#inUse.delete(address);
  }
}
