/**
 * Tracking of the client WebSockets a listener accepted, so a shutdown can
 * close them with 1001 (going away) while plain requests finish. A server
 * stopped without closing its connections keeps WebSockets open until
 * their peers close them, which may be never.
 */
import type { ServerSocket, ServerSocketHandlers } from "../runtime/index.ts";

/** RFC 6455 section 7.4.1: the endpoint is going away, such as a server going down. */
export const goingAway = 1001;

export class WebSocketTracker {
  readonly #open = new Set<ServerSocket>();

  /** Number of accepted client WebSockets not yet closed. */
  get size(): number {
    return this.#open.size;
  }

  /** Returns handlers that track the socket from `open` until `close`, then call `handlers`. */
  track(handlers: ServerSocketHandlers): ServerSocketHandlers {
    const open = this.#open;
    return registering(handlers, (socket) => open.add(socket), (socket) => open.delete(socket));
  }

  /** Closes every tracked WebSocket with `code`; each peer's relay then closes its upstream. */
  closeAll(code: number, reason: string): void {
    for (const socket of [...this.#open]) socket.close(code, reason);
  }
}

/**
 * Returns handlers that call `register` when a socket opens and `unregister`
 * when it closes, before passing each event on to `handlers`.
 */
export function registering(
  handlers: ServerSocketHandlers,
  register: (socket: ServerSocket) => void,
  unregister: (socket: ServerSocket) => void,
): ServerSocketHandlers {
  return {
    open(socket) {
      register(socket);
      handlers.open(socket);
    },
    message: (socket, data) => handlers.message(socket, data),
    close(socket, code, reason) {
      unregister(socket);
      handlers.close(socket, code, reason);
    },
    drain: (socket) => handlers.drain(socket),
  };
}
