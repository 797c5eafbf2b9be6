/**
 * A typed client for the parts of the Slicer REST API that Relight uses:
 * `GET /nodes`, `POST /vm/{hostname}/resume|pause|relaunch`. It speaks HTTP
 * over a unix socket or to an http(s) URL, sends the Bearer token when one is
 * configured, bounds every call by a timeout and validates every response.
 */
import * as v from "valibot";
import type { SlicerConfig } from "../config/types.ts";
import type { Observer } from "../observe.ts";
import { noopObserver } from "../observe.ts";
import { runtime } from "../runtime/index.ts";
import { SlicerProtocolError, SlicerStatusError, SlicerUnreachableError } from "./errors.ts";

/**
 * A VM's status. slicerd reports exactly `Running` or `Paused`, and newer
 * daemons also `Stopped`; any other value is `unknown`, never taken as paused.
 */
export type NodeStatus = "running" | "paused" | "stopped" | "unknown";

/** One VM from `GET /nodes`. */
export interface SlicerNode {
  hostname: string;
  hostGroup: string;
  /** Plain IP address, without a CIDR suffix. */
  ip: string;
  tags: string[];
  status: NodeStatus;
  /** The `status` value as slicerd sent it, for logs. */
  rawStatus: string;
}

const nodeSchema = v.object({
  hostname: v.pipe(v.string(), v.nonEmpty()),
  hostgroup: v.string(),
  ip: v.string(),
  tags: v.optional(v.nullable(v.array(v.string())), []),
  status: v.optional(v.string(), ""),
});

const nodeListSchema = v.array(nodeSchema);

const errorBodySchema = v.object({ error: v.string() });

/**
 * Largest `GET /nodes` body read, in bytes. A node entry with a few tags is
 * about 250 bytes (an estimate), so this allows some 250,000 VMs, far more
 * than one host runs, while a broken daemon cannot make Relight buffer
 * without bound.
 */
export const maxNodesResponseBytes = 64 * 1024 * 1024;

/** Result of one call, reported to listeners for reachability tracking. */
export interface SlicerCallReport {
  endpoint: string;
  /** HTTP status, or 0 when no response came. */
  status: number;
  durationMs: number;
}

export interface SlicerClientOptions {
  observer?: Observer;
  /** Called after every call, whether or not slicerd responded. */
  onCall?: (report: SlicerCallReport) => void;
  /** Largest `GET /nodes` body read, in bytes. Default `maxNodesResponseBytes`. */
  maxNodesResponseBytes?: number;
}

function parseStatus(raw: string): NodeStatus {
  switch (raw) {
    case "Running":
      return "running";
    case "Paused":
      return "paused";
    case "Stopped":
      return "stopped";
    default:
      return "unknown";
  }
}

/** Strips a CIDR suffix, because the create call reports `192.168.140.2/24`. */
function plainAddress(ip: string): string {
  const slash = ip.indexOf("/");
  return slash === -1 ? ip : ip.slice(0, slash);
}

function parseJson(endpoint: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    // The parser's message lets the logs show HTML apart from truncated JSON.
    const reason = error instanceof SyntaxError ? ` (${error.message})` : "";
    throw new SlicerProtocolError(endpoint, `body is not JSON${reason}`);
  }
}

export class SlicerClient {
  readonly #config: SlicerConfig;
  readonly #fetch: typeof fetch;
  readonly #baseUrl: string;
  readonly #observer: Observer;
  readonly #onCall: ((report: SlicerCallReport) => void) | undefined;
  readonly #maxNodesResponseBytes: number;
  /** The last `GET /nodes` body and the nodes parsed from it. */
  #lastListing: { text: string; nodes: SlicerNode[] } | undefined;

  constructor(config: SlicerConfig, options: SlicerClientOptions = {}) {
    this.#config = config;
    if (config.socketPath === undefined) {
      this.#fetch = runtime.createFetch({});
      this.#baseUrl = config.url;
    } else {
      this.#fetch = runtime.createFetch({ unixSocket: config.socketPath });
      // Over a unix socket the URL's host is ignored; `localhost` is the convention.
      this.#baseUrl = "http://localhost";
    }
    this.#observer = options.observer ?? noopObserver;
    this.#onCall = options.onCall;
    this.#maxNodesResponseBytes = options.maxNodesResponseBytes ?? maxNodesResponseBytes;
  }

  /**
   * Lists every VM on the host, in every host group. While slicerd sends the
   * same body, it returns the same array without parsing it again, so callers
   * can tell that nothing changed. Callers must not modify the array.
   */
  async listNodes(): Promise<SlicerNode[]> {
    const endpoint = "GET /nodes";
    const response = await this.#call(endpoint, "GET", "/nodes");
    const text = await this.#readText(endpoint, response, this.#maxNodesResponseBytes);
    // Parsing and checking 10,000 nodes took about 15 ms (measured, Bun 1.4.5).
    if (this.#lastListing?.text === text) return this.#lastListing.nodes;
    const body = parseJson(endpoint, text);

    const parsed = v.safeParse(nodeListSchema, body);
    if (!parsed.success) {
      const issue = parsed.issues[0];
      const path = issue ? v.getDotPath(issue) : null;
      const where = path ? ` at ${path}` : "";
      throw new SlicerProtocolError(endpoint, `${issue?.message ?? "invalid"}${where}`);
    }

    const nodes = parsed.output.map((node) => ({
      hostname: node.hostname,
      hostGroup: node.hostgroup,
      ip: plainAddress(node.ip),
      tags: node.tags ?? [],
      status: parseStatus(node.status),
      rawStatus: node.status,
    }));
    this.#lastListing = { text, nodes };
    return nodes;
  }

  /** Starts resuming a paused VM; the guest may still be waking when this returns. */
  async resume(hostname: string): Promise<void> {
    await this.#vmAction("resume", hostname);
  }

  /** Starts pausing a running VM. */
  async pause(hostname: string): Promise<void> {
    await this.#vmAction("pause", hostname);
  }

  /** Relaunches a stopped VM from its existing disk image. */
  async relaunch(hostname: string): Promise<void> {
    await this.#vmAction("relaunch", hostname);
  }

  async #vmAction(action: string, hostname: string): Promise<void> {
    const endpoint = `POST /vm/{hostname}/${action}`;
    const response = await this.#call(
      endpoint,
      "POST",
      `/vm/${encodeURIComponent(hostname)}/${action}`,
    );
    // The body is a short text confirmation; read it so the connection is reusable.
    await response.arrayBuffer().catch(() => undefined);
  }

  async #call(endpoint: string, method: string, path: string): Promise<Response> {
    const headers = new Headers({ accept: "application/json" });
    if (this.#config.token !== undefined) {
      headers.set("authorization", `Bearer ${this.#config.token}`);
    }

    const started = performance.now();
    let response: Response;
    try {
      response = await this.#fetch(this.#baseUrl + path, {
        method,
        headers,
        redirect: "manual",
        signal: AbortSignal.timeout(this.#config.requestTimeoutMs),
      });
    } catch (error) {
      this.#report(endpoint, 0, started);
      const timedOut = error instanceof DOMException && error.name === "TimeoutError";
      const message = timedOut
        ? `${endpoint} timed out after ${this.#config.requestTimeoutMs} ms`
        : `${endpoint} failed: slicerd is unreachable`;
      throw new SlicerUnreachableError(endpoint, message, { cause: error });
    }
    this.#report(endpoint, response.status, started);

    if (!response.ok) {
      throw new SlicerStatusError(endpoint, response.status, await readErrorDetail(response));
    }
    return response;
  }

  async #readText(endpoint: string, response: Response, maxBytes: number): Promise<string> {
    const declared = response.headers.get("content-length");
    if (declared !== null && Number(declared) > maxBytes) {
      await response.body?.cancel();
      throw tooLarge(endpoint, maxBytes);
    }

    let text: string | undefined;
    try {
      text = await readTextWithLimit(response, maxBytes);
    } catch (error) {
      if (error instanceof SlicerProtocolError) throw error;
      throw new SlicerUnreachableError(endpoint, `${endpoint} failed while reading the response`, {
        cause: error,
      });
    }
    if (text === undefined) throw tooLarge(endpoint, maxBytes);
    return text;
  }

  #report(endpoint: string, status: number, started: number): void {
    const durationMs = performance.now() - started;
    this.#observer.slicerCall(endpoint, status, durationMs);
    this.#onCall?.({ endpoint, status, durationMs });
  }
}

function tooLarge(endpoint: string, maxBytes: number): SlicerProtocolError {
  return new SlicerProtocolError(endpoint, `body is larger than ${maxBytes} bytes`);
}

/**
 * Reads the body as UTF-8 text, or returns undefined and cancels the rest
 * once more than `maxBytes` arrived. A `Content-Length` can be missing or
 * wrong, so the count is kept while reading.
 */
async function readTextWithLimit(
  response: Response,
  maxBytes: number,
): Promise<string | undefined> {
  if (response.body === null) return "";

  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let received = 0;
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

/** Reads slicerd's `{"error": "..."}` body; other bodies give no detail. */
async function readErrorDetail(response: Response): Promise<string | undefined> {
  const text = await response.text().catch(() => "");
  try {
    const parsed = v.safeParse(errorBodySchema, JSON.parse(text));
    return parsed.success ? parsed.output.error : undefined;
  } catch {
    return undefined;
  }
}
