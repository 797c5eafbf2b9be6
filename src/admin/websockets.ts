/**
 * Tracking of the client WebSockets a listener accepted, so a shutdown can
 * close them with 1001 (going away) while plain requests finish. A server
 * stopped without closing its connections keeps WebSockets open until
 * their peers close them, which may be never.
 */
import type {
  RequestContext,
  RequestHandler,
  ServerSocket,
  ServerSocketHandlers,
  UpgradeOptions,
} from "../runtime/index.ts";

/** RFC 6455 section 7.4.1: the endpoint is going away, such as a server going down. */
export const goingAway = 1001;

export class WebSocketTracker {
  readonly #open = new Set<ServerSocket>();

  /** Number of accepted client WebSockets not yet closed. */
  get size(): number {
    return this.#open.size;
  }

  /** Wraps a request handler so that every WebSocket it accepts is tracked until it closes. */
  wrap(handler: RequestHandler): RequestHandler {
    return (request, context) => handler(request, this.#trackingContext(context));
  }

  /** Closes every tracked WebSocket with `code`; each peer's relay then closes its upstream. */
  closeAll(code: number, reason: string): void {
    for (const socket of [...this.#open]) socket.close(code, reason);
  }

  #trackingContext(context: RequestContext): RequestContext {
    return new TrackingContext(context, this.#open);
  }
}

/**
 * A request's context whose `upgrade` adds the accepted socket to `open`. A
 * class rather than an object literal of closures, because one is made for
 * every request and almost none upgrade.
 */
class TrackingContext implements RequestContext {
  readonly #context: RequestContext;
  readonly #open: Set<ServerSocket>;

  constructor(context: RequestContext, open: Set<ServerSocket>) {
    this.#context = context;
    this.#open = open;
  }

  get remoteAddress(): string {
    return this.#context.remoteAddress;
  }

  get clientGone(): AbortSignal {
    return this.#context.clientGone;
  }

  get stoppedByServer(): boolean {
    return this.#context.stoppedByServer;
  }

  disableTimeout(): void {
    this.#context.disableTimeout();
  }

  upgrade(options: UpgradeOptions): Response | undefined {
    const open = this.#open;
    const handlers = options.handlers;
    const tracked: ServerSocketHandlers = {
      open(socket) {
        open.add(socket);
        handlers.open(socket);
      },
      message: (socket, data) => handlers.message(socket, data),
      close(socket, code, reason) {
        open.delete(socket);
        handlers.close(socket, code, reason);
      },
      drain: (socket) => handlers.drain(socket),
    };
    return this.#context.upgrade({ ...options, handlers: tracked });
  }
}
