/**
 * The check that no other socket is bound to the HTTPS address before
 * Relight first binds it. The HTTPS listener binds with `reusePort`, so that a
 * certificate change can start a second server on the same port. The kernel
 * would let any process of the same user bind that port with `reusePort`
 * too and then split new connections between the two processes.
 */
import { createServer } from "node:net";
import type { ListenAddress } from "../config/types.ts";
import { ListenError } from "../listen-error.ts";

/**
 * Binds a plain TCP server without `reusePort` on `address` and closes it
 * again. Such a bind fails while any other socket is bound to the port, with or
 * without `reusePort` (checked on Linux with Bun 1.4.5). Rejects with a
 * `ListenError` naming `tls.listen` and the address when the bind fails. Port 0
 * is not checked, because the kernel then picks a free port.
 *
 * NOTE: a process that binds the port with `reusePort` between this check
 * and Relight's own bind, or after it, still shares the port. The check
 * stops a second Relight, which runs the same check, and any process that
 * binds without `reusePort`.
 */
export async function ensurePortFree(address: ListenAddress): Promise<void> {
  if (address.port === 0) return;

  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      const cause = error.code === "EADDRINUSE"
        ? new Error(
          "address already in use by another socket (stop the other process or choose another port)",
          { cause: error },
        )
        : error;
      reject(new ListenError("tls.listen", address, cause));
    });
    server.listen({ host: address.hostname, port: address.port, exclusive: true }, () => {
      server.close(() => resolve());
    });
  });
}
