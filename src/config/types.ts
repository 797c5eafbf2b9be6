/**
 * The effective configuration after loading: every default filled in, every
 * duration in milliseconds, every path expanded. The loader in `load.ts`
 * produces it from relight.yaml.
 */

/** A `host:port` listen address. */
export interface ListenAddress {
  hostname: string;
  port: number;
}

/** Settings that `defaults` contains and that each site may override. */
export interface SiteSettings {
  /** Slicer host group whose VMs this site routes to. Default "apps". */
  hostGroup: string;
  /** Idle time before a VM is paused, in ms. Default 5m, at least 30s. */
  idleTimeoutMs: number;
  /** Maximum wait of a request for a paused VM to become ready, in ms. Default 30s. */
  wakeTimeoutMs: number;
  /** Port the app listens on inside each VM. Default 8080. */
  appPort: number;
}

/**
 * The rule by which a site turns a hostname into a tag. `exact-any` (the `*`
 * site) looks up the whole hostname, and `exact` does so for one hostname.
 * `wildcard` also takes the first label one level under `suffix`, and
 * `implicit` (no `sites` configured) tries the exact hostname, then the first
 * label of any host.
 */
export type SiteMatch =
  | { kind: "exact-any" }
  | { kind: "wildcard"; suffix: string }
  | { kind: "exact"; hostname: string }
  | { kind: "implicit" };

export interface SiteConfig extends SiteSettings {
  /**
   * The `match` pattern as written, lowercased (`*.apps.example.com`, `*`,
   * `myapp.com`), or `(implicit)` for the site used when `sites` is omitted.
   */
  pattern: string;
  match: SiteMatch;
}

export interface SlicerConfig {
  /** `unix:` socket path (expanded) or an http(s) base URL without a trailing slash. */
  url: string;
  /** Set when `url` is a unix socket path. */
  socketPath?: string;
  /** Bearer token, from `token` or `token_file`. Never printed. */
  token?: string;
  /** Path of `token_file`, kept so a reload reads it again. */
  tokenFile?: string;
  /** Per-call timeout, in ms. Default 10s. */
  requestTimeoutMs: number;
}

export interface AdminConfig {
  listen: ListenAddress;
  /** Bearer token required when `listen` is not a loopback address. Never printed. */
  token?: string;
}

export interface LogConfig {
  level: "debug" | "info" | "warning" | "error";
  format: "text" | "json";
  /** One line per proxied request. Default false. */
  access: boolean;
}

export interface AcmeConfig {
  email?: string;
  /** ACME directory URL. Default Let's Encrypt production; `staging: true` picks staging. */
  directoryUrl: string;
  /** PEM bundle trusted for the directory's TLS, for a private CA. */
  caBundle?: string;
  /** Directory for the account key, certificates and keys. */
  storage: string;
}

export interface TlsConfig {
  listen: ListenAddress;
  certificates: { certFile: string; keyFile: string }[];
  acme?: AcmeConfig;
  /** Sends plain HTTP to HTTPS with a 308, except ACME HTTP-01 challenge paths. */
  redirectHttp: boolean;
  /** `Strict-Transport-Security` max-age in seconds; absent when HSTS is off. */
  hstsMaxAgeSeconds?: number;
}

export interface Config {
  /** Path of the file this was loaded from, as given. */
  file: string;
  listen: ListenAddress;
  slicer: SlicerConfig;
  /** How often idle VMs are looked for and paused, in ms. Default 30s. */
  watchIntervalMs: number;
  /** How often the VM index is refreshed from slicerd in the background, in ms. Default 5s. */
  refreshIntervalMs: number;
  defaults: SiteSettings;
  /** Sites in the order written; one implicit site when `sites` is omitted. */
  sites: SiteConfig[];
  /** Peers (IP addresses or CIDR ranges) whose `X-Forwarded-*` headers are kept. */
  trustedProxies: string[];
  /**
   * Maximum wait for an app's response head after a request was sent whole,
   * in ms, before the client gets a 504. Default 5m.
   */
  responseTimeoutMs: number;
  /** Time given to in-flight requests on shutdown, in ms. Default 30s. */
  shutdownTimeoutMs: number;
  ask?: { listen: ListenAddress };
  admin?: AdminConfig;
  log: LogConfig;
  tls?: TlsConfig;
}
