/**
 * Errors raised by the Slicer API client. None of them carries the token or
 * the request headers, so they are safe to log.
 */

/** Base class for every failed call to slicerd. */
export class SlicerError extends Error {
  /** The call that failed, such as `POST /vm/{hostname}/resume`. */
  readonly endpoint: string;

  constructor(endpoint: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SlicerError";
    this.endpoint = endpoint;
  }
}

/** slicerd could not be reached, or did not respond within the timeout. */
export class SlicerUnreachableError extends SlicerError {
  constructor(endpoint: string, message: string, options?: ErrorOptions) {
    super(endpoint, message, options);
    this.name = "SlicerUnreachableError";
  }
}

/** slicerd responded with a non-2xx status. */
export class SlicerStatusError extends SlicerError {
  /** HTTP status of the response. */
  readonly status: number;
  /** The `error` field of slicerd's JSON body, or undefined when it sent none. */
  readonly detail: string | undefined;

  constructor(endpoint: string, status: number, detail: string | undefined) {
    const suffix = detail === undefined ? "" : `: ${detail}`;
    super(endpoint, `${endpoint} failed with HTTP ${status}${suffix}`);
    this.name = "SlicerStatusError";
    this.status = status;
    this.detail = detail;
  }
}

/** slicerd responded 2xx with a body that does not match its API. */
export class SlicerProtocolError extends SlicerError {
  constructor(endpoint: string, message: string) {
    super(endpoint, `${endpoint} returned an invalid response: ${message}`);
    this.name = "SlicerProtocolError";
  }
}
