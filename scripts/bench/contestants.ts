/**
 * The contestants: programs that serve the upstream app to a client, each
 * started on loopback as its own process. All of them proxy to the same
 * upstream origin, and `direct` is the upstream itself.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { firstLine, freePort, startProcess, waitForPort } from "./processes.ts";

export interface Contestant {
  name: string;
  /** Origin the client connects to, such as http://127.0.0.1:40123. */
  origin: string;
  /** Host header the client sends, which routers route by. */
  host: string;
  /** Process whose tree's memory is the proxy's memory. Absent for `direct`. */
  pid?: number;
  /** Process whose tree's CPU time is counted per request: the proxy, or the app for `direct`. */
  cpuPid: number;
  /** Whether WebSocket upgrades pass through. */
  webSocket: boolean;
  /** Command line shown in the report. */
  command: string;
  stop(): Promise<void>;
}

/** Host header sent to every contestant, which Relight routes to the bench VM. */
export const benchHost = "bench.relight.test";

const scriptDir = import.meta.dirname;

/** A running upstream app: its origin and the process serving it. */
export interface Upstream {
  origin: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts the upstream app on 127.0.0.1 as its own Bun process. */
export async function startUpstream(): Promise<Upstream> {
  const started = startProcess("upstream app", process.execPath, [
    join(scriptDir, "upstream-app.ts"),
  ]);
  const port = Number(await firstLine(started));
  return { origin: `http://127.0.0.1:${port}`, pid: started.child.pid!, stop: started.stop };
}

export function directContestant(upstream: Upstream): Contestant {
  return {
    name: "direct",
    origin: upstream.origin,
    host: benchHost,
    cpuPid: upstream.pid,
    webSocket: true,
    command: "the upstream app itself (no proxy)",
    stop: async () => {},
  };
}

/** Starts a bare `Bun.serve` + `fetch` proxy. */
export async function startBare(upstream: Upstream): Promise<Contestant> {
  const script = join(scriptDir, "bare-proxy.ts");
  const started = startProcess("bare Bun proxy", process.execPath, [script], {
    env: { UPSTREAM: upstream.origin },
  });
  const port = Number(await firstLine(started));
  return {
    name: "bare-bun",
    origin: `http://127.0.0.1:${port}`,
    host: benchHost,
    pid: started.child.pid!,
    cpuPid: started.child.pid!,
    webSocket: false,
    command: `UPSTREAM=${upstream.origin} bun scripts/bench/bare-proxy.ts`,
    stop: started.stop,
  };
}

function nginxConfig(dir: string, port: number, upstreamHostPort: string): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events {
  worker_connections 20000;
}
worker_rlimit_nofile 40000;
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade {
    default upgrade;
    "" "";
  }
  upstream app {
    server ${upstreamHostPort};
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 1h;
    }
  }
}
`;
}

/** Starts nginx with one worker and a keep-alive upstream pool. */
export async function startNginx(upstream: Upstream): Promise<Contestant> {
  const dir = mkdtempSync(join(tmpdir(), "relight-bench-nginx-"));
  const port = await freePort();
  const config = join(dir, "nginx.conf");
  writeFileSync(config, nginxConfig(dir, port, new URL(upstream.origin).host));

  const args = ["-e", "stderr", "-p", dir, "-c", config];
  const started = startProcess("nginx", "nginx", args, { tempDir: dir });
  await waitForPort(started, port);
  return {
    name: "nginx",
    origin: `http://127.0.0.1:${port}`,
    host: benchHost,
    pid: started.child.pid!,
    cpuPid: started.child.pid!,
    webSocket: true,
    command: `nginx ${args.join(" ")} (worker_processes 1, keepalive 128, proxy_buffering off)`,
    stop: started.stop,
  };
}

/** Starts Caddy with one `reverse_proxy` site on a loopback port. */
export async function startCaddy(upstream: Upstream): Promise<Contestant> {
  const dir = mkdtempSync(join(tmpdir(), "relight-bench-caddy-"));
  const port = await freePort();
  const config = join(dir, "Caddyfile");
  // A site address of `:port` matches any Host header, and `bind` keeps it on loopback.
  writeFileSync(
    config,
    `{
  admin off
  auto_https off
}
:${port} {
  bind 127.0.0.1
  reverse_proxy ${new URL(upstream.origin).host}
}
`,
  );

  const args = ["run", "--config", config, "--adapter", "caddyfile"];
  const started = startProcess("caddy", "caddy", args, {
    env: { HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    tempDir: dir,
  });
  await waitForPort(started, port);
  return {
    name: "caddy",
    origin: `http://127.0.0.1:${port}`,
    host: benchHost,
    pid: started.child.pid!,
    cpuPid: started.child.pid!,
    webSocket: true,
    command: `caddy ${args.join(" ")} (reverse_proxy, default GOMAXPROCS)`,
    stop: started.stop,
  };
}

/**
 * Buffer size for HAProxy. On 1,000 MiB downloads with curl on the benchmark
 * machine, its default of 16 KiB moved about 0.55x of direct, 256 KiB (the
 * size of the app's chunks) about 0.7x, and kernel splicing
 * (`option splice-response`) less than the default.
 */
const haproxyBufferBytes = 256 * 1024;

/**
 * Starts HAProxy with one thread and large buffers: the fastest proxy
 * measured on the benchmark machine, which the large-body section reports as
 * the ceiling for a proxy that copies each byte in and out.
 */
export async function startHaproxy(upstream: Upstream): Promise<Contestant> {
  const dir = mkdtempSync(join(tmpdir(), "relight-bench-haproxy-"));
  const port = await freePort();
  const config = join(dir, "haproxy.cfg");
  writeFileSync(
    config,
    `global
  nbthread 1
  maxconn 1000
  tune.bufsize ${haproxyBufferBytes}
defaults
  mode http
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend bench
  bind 127.0.0.1:${port}
  default_backend app
backend app
  server app ${new URL(upstream.origin).host}
`,
  );

  // -db keeps HAProxy in the foreground, in the process group the harness stops.
  const args = ["-db", "-f", config];
  const started = startProcess("haproxy", "haproxy", args, { tempDir: dir });
  await waitForPort(started, port);
  return {
    name: "haproxy",
    origin: `http://127.0.0.1:${port}`,
    host: benchHost,
    pid: started.child.pid!,
    cpuPid: started.child.pid!,
    webSocket: true,
    command: `haproxy ${args.join(" ")} (nbthread 1, tune.bufsize ${haproxyBufferBytes})`,
    stop: started.stop,
  };
}
