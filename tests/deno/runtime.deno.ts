/**
 * Tests for the Deno adapter's handling of the ways Deno differs from Bun:
 * fetch decoding, the Host header, `request.signal` after a response,
 * WebSocket backpressure and request body limits.
 */
import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import * as http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { denoRuntime } from "../../src/runtime/deno.ts";
import type {
  RequestContext,
  RequestHandler,
  RunningServer,
  UpstreamRequest,
} from "../../src/runtime/types.ts";
import { abandonRequest, abortedWithin, delay, rawRequest, startUpstream } from "./helpers.ts";

async function withServer(handler: RequestHandler, run: (server: RunningServer) => Promise<void>) {
  const server = denoRuntime.serve({ hostname: "127.0.0.1", port: 0, handler });
  try {
    await run(server);
  } finally {
    await server.stop(true);
  }
}

/** Builds a request for `fetchUpstream` to `origin` (such as http://127.0.0.1:8080). */
function requestTo(
  origin: string,
  target: string,
  init: { method: string; headers: [string, string][]; body: ReadableStream<Uint8Array> | null },
): UpstreamRequest {
  const url = new URL(origin);
  return {
    hostname: url.hostname,
    port: Number(url.port),
    target,
    ...init,
    signal: new AbortController().signal,
    bufferLimit: 1024 * 1024,
    responseHeaders: (fields) => fields,
    onBodyEnd: () => undefined,
  };
}

/** Copies a response the way a proxy does, headers included. */
function relay(response: Response): Response {
  return new Response(response.body, {
    status: response.status,
    headers: new Headers(response.headers),
  });
}

Deno.test("fetchUpstream relays a gzip body byte for byte", async () => {
  const text = "hello relight ".repeat(2000);
  const compressed = gzipSync(text);
  // The upstream compresses whatever the request accepts, as some apps do.
  const upstream = await startUpstream((_request, response) => {
    response.writeHead(200, { "content-encoding": "gzip", "content-length": compressed.length });
    response.end(compressed);
  });

  try {
    await withServer(
      async (request) => {
        const response = await denoRuntime.fetchUpstream(requestTo(upstream.url, "/", {
          method: request.method,
          headers: [...request.headers],
          body: null,
        }));
        return relay(response);
      },
      async (server) => {
        const response = await rawRequest(
          server.port,
          "GET / HTTP/1.1\r\nhost: app.test\r\naccept-encoding: gzip",
        );
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("content-encoding"), "gzip");
        assert.equal(response.headers.get("content-length"), String(compressed.length));
        const received = Buffer.from(response.body, "latin1");
        assert.equal(received.length, compressed.length);
        assert.equal(gunzipSync(received).toString(), text);
      },
    );
    assert.equal(upstream.received[0]?.headers["accept-encoding"], "identity");
  } finally {
    await upstream.close();
  }
});

Deno.test("fetchUpstream keeps an uncompressed response as it is", async () => {
  const upstream = await startUpstream((_request, response) => {
    response.writeHead(200, { "content-length": "5" });
    response.end("plain");
  });
  try {
    const response = await denoRuntime.fetchUpstream(requestTo(upstream.url, "/", {
      method: "GET",
      headers: [],
      body: null,
    }));
    assert.equal(response.headers.get("content-length"), "5");
    assert.equal(await response.text(), "plain");
  } finally {
    await upstream.close();
  }
});

Deno.test("fetchUpstream sends the caller's Host header", async () => {
  const upstream = await startUpstream((_request, response) => response.end("ok"));
  try {
    const response = await denoRuntime.fetchUpstream(requestTo(upstream.url, "/", {
      method: "GET",
      headers: [["host", "app.example.test"]],
      body: null,
    }));
    await response.body?.cancel();
    assert.equal(upstream.received[0]?.headers.host, "app.example.test");
  } finally {
    await upstream.close();
  }
});

Deno.test("fetchUpstream returns redirects without following", async () => {
  const upstream = await startUpstream((_request, response) => {
    response.writeHead(302, { location: "/elsewhere" });
    response.end();
  });
  try {
    const response = await denoRuntime.fetchUpstream(requestTo(upstream.url, "/", {
      method: "GET",
      headers: [],
      body: null,
    }));
    await response.body?.cancel();
    assert.equal(response.status, 302);
    assert.equal(response.headers.get("location"), "/elsewhere");
    assert.equal(upstream.received.length, 1);
  } finally {
    await upstream.close();
  }
});

Deno.test("fetchUpstream streams a request body upstream", async () => {
  const upstream = await startUpstream((request, response) => {
    let length = 0;
    request.on("data", (chunk: Uint8Array) => (length += chunk.byteLength));
    request.on("end", () => response.end(String(length)));
  });
  try {
    const chunk = new Uint8Array(64 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 16) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const response = await denoRuntime.fetchUpstream(requestTo(upstream.url, "/upload", {
      method: "POST",
      headers: [],
      body,
    }));
    assert.equal(await response.text(), String(16 * chunk.byteLength));
  } finally {
    await upstream.close();
  }
});

Deno.test("clientGone stays quiet after a normal response", async () => {
  let context: RequestContext | undefined;
  await withServer(
    (_request, requestContext) => {
      context = requestContext;
      return new Response("done");
    },
    async (server) => {
      const response = await fetch(`http://127.0.0.1:${server.port}/`);
      assert.equal(await response.text(), "done");
      assert.ok(context);
      assert.equal(await abortedWithin(context.clientGone, 200), false);
    },
  );
});

Deno.test("clientGone aborts when the client leaves before a response", async () => {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let context: RequestContext | undefined;
  await withServer(
    async (_request, requestContext) => {
      context = requestContext;
      await released;
      return new Response("late");
    },
    async (server) => {
      await abandonRequest(server.port, "GET /slow HTTP/1.1\r\nhost: app.test", 100);
      assert.ok(context);
      assert.equal(await abortedWithin(context.clientGone, 2000), true);
      release();
    },
  );
});

Deno.test("clientGone aborts when the client leaves mid-stream", async () => {
  let context: RequestContext | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  await withServer(
    (_request, requestContext) => {
      context = requestContext;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          timer = setInterval(() => controller.enqueue(new Uint8Array(512)), 10);
        },
        cancel() {
          clearInterval(timer);
        },
      });
      return new Response(body);
    },
    async (server) => {
      await abandonRequest(server.port, "GET /stream HTTP/1.1\r\nhost: app.test", 150);
      assert.ok(context);
      assert.equal(await abortedWithin(context.clientGone, 2000), true);
    },
  );
  clearInterval(timer);
});

Deno.test("clientGone ignores the legacy abort without the unstable flag", async () => {
  // The child runs under a config without `no-legacy-abort`, so Deno aborts
  // `request.signal` after every response and the adapter must filter it.
  const configDir = mkdtempSync(join(tmpdir(), "relight-deno-legacy-"));
  try {
    const repoRoot = new URL("../../", import.meta.url).pathname;
    Deno.writeTextFileSync(join(configDir, "deno.json"), '{ "nodeModulesDir": "manual" }');
    Deno.symlinkSync(join(repoRoot, "node_modules"), join(configDir, "node_modules"));
    Deno.symlinkSync(join(repoRoot, "package.json"), join(configDir, "package.json"));

    const probe = new URL("./fixtures/legacy_abort_probe.ts", import.meta.url).pathname;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-read", "--config", join(configDir, "deno.json"), probe],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);

    const result = JSON.parse(new TextDecoder().decode(output.stdout)) as Record<string, boolean>;
    assert.equal(result.requestSignalAborted, true, "the child did not run in legacy mode");
    assert.equal(result.clientGoneAborted, false);
    assert.equal(result.upgradeClientGoneAborted, false);
  } finally {
    rmSync(configDir, { recursive: true, force: true });
  }
});

Deno.test("serve rejects a declared body over maxRequestBodySize", async () => {
  const server = denoRuntime.serve({
    hostname: "127.0.0.1",
    port: 0,
    maxRequestBodySize: 10,
    handler: async (request) => new Response(String((await request.arrayBuffer()).byteLength)),
  });
  try {
    const tooLarge = await fetch(`http://127.0.0.1:${server.port}/`, {
      method: "POST",
      body: "x".repeat(11),
    });
    await tooLarge.body?.cancel();
    assert.equal(tooLarge.status, 413);

    const fits = await fetch(`http://127.0.0.1:${server.port}/`, {
      method: "POST",
      body: "x".repeat(10),
    });
    assert.equal(await fits.text(), "10");
  } finally {
    await server.stop(true);
  }
});

Deno.test("serve errors a chunked body past maxRequestBodySize", async () => {
  let readError: unknown;
  const server = denoRuntime.serve({
    hostname: "127.0.0.1",
    port: 0,
    maxRequestBodySize: 1000,
    handler: async (request) => {
      try {
        await request.arrayBuffer();
      } catch (error) {
        readError = error;
      }
      return new Response("read");
    },
  });
  try {
    const chunk = new TextEncoder().encode("x".repeat(600));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 2) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`http://127.0.0.1:${server.port}/`, { method: "POST", body });
    await response.body?.cancel();
    assert.ok(readError instanceof Error, "reading the body did not fail");
    assert.match(readError.message, /exceeds 1000 bytes/);
  } finally {
    await server.stop(true);
  }
});

Deno.test("serve reports the peer address and pending requests", async () => {
  let remoteAddress = "";
  let pendingInside = -1;
  const server: RunningServer = denoRuntime.serve({
    hostname: "127.0.0.1",
    port: 0,
    handler: (_request, context) => {
      remoteAddress = context.remoteAddress;
      pendingInside = server.pendingRequests;
      return new Response("ok");
    },
  });
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}/`);
    await response.text();
    await delay(20);
    assert.equal(remoteAddress, "127.0.0.1");
    assert.equal(pendingInside, 1);
    assert.equal(server.pendingRequests, 0);
  } finally {
    await server.stop(true);
  }
});

Deno.test("stop(false) lets a streaming response finish", async () => {
  const server = denoRuntime.serve({
    hostname: "127.0.0.1",
    port: 0,
    handler: () => {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await delay(30);
          if (sent === 5) return controller.close();
          sent++;
          controller.enqueue(new TextEncoder().encode("part "));
        },
      });
      return new Response(body);
    },
  });
  const response = await fetch(`http://127.0.0.1:${server.port}/`);
  const stopped = server.stop(false);
  assert.equal(await response.text(), "part ".repeat(5));
  await stopped;
});

Deno.test("stop(true) after a finished stop(false) resolves", async () => {
  const server = denoRuntime.serve({
    hostname: "127.0.0.1",
    port: 0,
    handler: () => new Response("ok"),
  });
  await server.stop(false);
  await server.stop(true);
});

Deno.test("createFetch speaks HTTP over a unix socket", async () => {
  const dir = mkdtempSync(join(tmpdir(), "relight-deno-unix-"));
  const socketPath = join(dir, "api.sock");
  const server = http.createServer((request, response) => {
    // Deno sends the absolute form (`GET http://localhost/path`) over a unix
    // socket, which RFC 9112 section 3.2.2 requires servers to accept.
    const path = new URL(request.url ?? "", "http://localhost").pathname;
    response.end(`${request.method} ${path} host=${request.headers.host}`);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  try {
    const unixFetch = denoRuntime.createFetch({ unixSocket: socketPath });
    const response = await unixFetch("http://localhost/vm/list?x=1");
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "GET /vm/list host=localhost");
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("createFetch sends the caller's Host header", async () => {
  const upstream = await startUpstream((_request, response) => response.end("ok"));
  try {
    const hostFetch = denoRuntime.createFetch({});
    const response = await hostFetch(upstream.url + "/", { headers: { host: "app.example.test" } });
    assert.equal(await response.text(), "ok");
    assert.equal(upstream.received[0]?.headers.host, "app.example.test");
  } finally {
    await upstream.close();
  }
});

Deno.test("onSignal calls the listener until removed", async () => {
  let calls = 0;
  const remove = denoRuntime.onSignal("SIGHUP", () => calls++);
  // A second listener keeps the default SIGHUP action, which ends the process,
  // away after the first is removed.
  const keepAlive = () => {};
  Deno.addSignalListener("SIGHUP", keepAlive);
  try {
    Deno.kill(Deno.pid, "SIGHUP");
    await delay(100);
    assert.equal(calls, 1);

    remove();
    Deno.kill(Deno.pid, "SIGHUP");
    await delay(100);
    assert.equal(calls, 1);
  } finally {
    Deno.removeSignalListener("SIGHUP", keepAlive);
  }
});
