/**
 * The simulator's listeners on Bun: a unix socket and loopback TCP ports
 * that can be closed and reopened, for tests of an unreachable Slicer API.
 * This is the only simulator file that calls `Bun.*`.
 */
import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import { connect } from "node:net";

export type Handler = (request: Request) => Response | Promise<Response>;

type Address = { kind: "unix"; path: string } | { kind: "tcp"; hostname: string; port: number };

const internalErrorResponse = () =>
  new Response(JSON.stringify({ error: "internal error" }), {
    status: 500,
    headers: { "content-type": "application/json" },
  });

/** A Bun server that can be closed and bound again at the same address. */
export class Listener {
  #address: Address;
  readonly #handler: Handler;
  #server: ReturnType<typeof Bun.serve> | undefined;

  private constructor(address: Address, handler: Handler) {
    this.#address = address;
    this.#handler = handler;
  }

  /** Listens on a unix socket with mode 0600, replacing a stale socket file. */
  static async unix(path: string, handler: Handler): Promise<Listener> {
    await removeStaleSocket(path);
    const listener = new Listener({ kind: "unix", path }, handler);
    listener.open();
    return listener;
  }

  static tcp(hostname: string, port: number, handler: Handler): Listener {
    const listener = new Listener({ kind: "tcp", hostname, port }, handler);
    listener.open();
    return listener;
  }

  /** The bound TCP port, undefined for a unix socket. */
  get port(): number | undefined {
    return this.#address.kind === "tcp" ? this.#address.port : undefined;
  }

  get isOpen(): boolean {
    return this.#server !== undefined;
  }

  /** Binds the address again. A TCP port requested as 0 keeps the port it got first. */
  open(): void {
    if (this.#server) return;
    const common = {
      development: false,
      // A hung Slicer daemon keeps connections open, and so does the simulator.
      idleTimeout: 0,
      fetch: (request: Request) => this.#handler(request),
      error: internalErrorResponse,
    };
    const address = this.#address;
    if (address.kind === "unix") {
      // Bun's types accept `idleTimeout` only with hostname and port, but Bun
      // 1.4.5 applies it to unix sockets too: without it a request pending
      // for 12 s was reset after 10 s.
      const unixOptions = { ...common, unix: address.path };
      this.#server = Bun.serve(unixOptions as unknown as Bun.Serve.Options<undefined>);
      chmodSync(address.path, 0o600);
    } else {
      const server = Bun.serve({ ...common, hostname: address.hostname, port: address.port });
      this.#server = server;
      this.#address = { ...address, port: server.port ?? address.port };
    }
  }

  /** Stops listening and closes every open connection at once. */
  close(): void {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    void server.stop(true);
    if (this.#address.kind === "unix") removeFile(this.#address.path);
  }
}

function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

/** Removes a socket file that no process listens on, and raises when one does. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!isSocket) {
    throw new Error(`Cannot listen on ${path}: the path exists and is not a socket`);
  }
  const live = await new Promise<boolean>((resolve) => {
    const socket = connect({ path });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
  if (live) {
    throw new Error(`Cannot listen on ${path}: another process is listening on it`);
  }
  removeFile(path);
}
