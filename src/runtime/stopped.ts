/**
 * The abort reason of `RequestContext.clientGone` when a forced stop
 * (`RunningServer.stop(true)`) cut the request, as opposed to a client that
 * disconnected by itself.
 */
export class ServerStoppedError extends Error {
  constructor() {
    super("server stopped");
    this.name = "ServerStoppedError";
  }
}
