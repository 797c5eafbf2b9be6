/**
 * The error the Deno adapter uses to end requests that a forced stop
 * (`RunningServer.stop(true)`) cuts: the abort reason of their `clientGone`
 * and the failure of their response bodies.
 */
export class ServerStoppedError extends Error {
  constructor() {
    super("server stopped");
    this.name = "ServerStoppedError";
  }
}
