/** Header rules of the proxy, checked on what the upstream received and what the client got. */
import assert from "node:assert/strict";
import type { CaseGroup } from "../support/cases.ts";
import {
  headerValues,
  rawRequest,
  settle,
  startProxy,
  startRawUpstream,
  startUpstream,
  withCleanup,
} from "./harness.ts";

/** Starts an upstream that records every request it receives. */
function startRecordingUpstream(cleanup: Parameters<typeof startUpstream>[0]) {
  const received: { headers: Headers; url: string }[] = [];
  const upstream = startUpstream(cleanup, (request) => {
    received.push({ headers: request.headers, url: request.url });
    return new Response("ok");
  });
  return { upstream, received };
}

export const headerCases: CaseGroup = {
  name: "proxy headers",
  cases: [
    {
      name: "GET length not passed on",
      run: withCleanup(async (cleanup) => {
        // A GET's body is dropped, so a Content-Length passed on to the app
        // would make it read the next request on a pooled connection as the body.
        const { upstream, received } = startRecordingUpstream(cleanup);
        const proxy = startProxy(cleanup, upstream);

        const first = await rawRequest(proxy.port, [
          "GET /first HTTP/1.1",
          "Host: app.example",
          "Content-Length: 10",
          "Connection: close",
        ], "0123456789");
        const second = await rawRequest(proxy.port, [
          "GET /second HTTP/1.1",
          "Host: app.example",
          "Connection: close",
        ]);

        assert.equal(first.status, 200);
        assert.equal(second.status, 200);
        assert.deepEqual(received.map((entry) => new URL(entry.url).pathname), [
          "/first",
          "/second",
        ]);
        assert.equal(received[0]?.headers.get("content-length"), null);
      }),
    },
    {
      name: "hop-by-hop request headers removed",
      run: withCleanup(async (cleanup) => {
        const { upstream, received } = startRecordingUpstream(cleanup);
        const proxy = startProxy(cleanup, upstream);

        const response = await rawRequest(proxy.port, [
          "GET /path?q=1 HTTP/1.1",
          "Host: app.example",
          "Connection: close, X-Hop, Host, Via, X-Forwarded-For",
          "X-Hop: secret",
          "Keep-Alive: timeout=5",
          "TE: trailers",
          "Trailer: X-Checksum",
          "Upgrade: h2c",
          "HTTP2-Settings: AAMAAABkAAQAAP__",
          "Proxy-Authorization: Basic dXNlcjpwYXNz",
          "Proxy-Connection: keep-alive",
          "X-Kept: yes",
        ]);

        assert.equal(response.status, 200);
        const headers = received[0]?.headers;
        assert.ok(headers, "upstream received no request");
        for (
          const name of [
            "x-hop",
            "keep-alive",
            "te",
            "trailer",
            "upgrade",
            "http2-settings",
            "proxy-authorization",
            "proxy-connection",
          ]
        ) {
          assert.equal(headers.get(name), null, `${name} reached the upstream`);
        }
        assert.doesNotMatch(headers.get("connection") ?? "", /x-hop|close/i);
        assert.equal(headers.get("x-kept"), "yes");
        assert.equal(received[0]?.url.endsWith("/path?q=1"), true);
      }),
    },
    {
      name: "Connection token cannot remove Host or added headers",
      run: withCleanup(async (cleanup) => {
        const { upstream, received } = startRecordingUpstream(cleanup);
        const proxy = startProxy(cleanup, upstream);

        await rawRequest(proxy.port, [
          "GET / HTTP/1.1",
          "Host: app.example:8080",
          "Connection: close, host, via, x-forwarded-for, x-forwarded-proto, x-forwarded-host",
        ]);

        const headers = received[0]?.headers;
        assert.ok(headers, "upstream received no request");
        assert.equal(headers.get("host"), "app.example:8080");
        assert.equal(headers.get("via"), "1.1 relight");
        assert.equal(headers.get("x-forwarded-for"), "127.0.0.1");
        assert.equal(headers.get("x-forwarded-proto"), "http");
        assert.equal(headers.get("x-forwarded-host"), "app.example:8080");
      }),
    },
    {
      name: "forwarding headers from untrusted peer replaced",
      run: withCleanup(async (cleanup) => {
        const { upstream, received } = startRecordingUpstream(cleanup);
        const proxy = startProxy(cleanup, upstream, {
          trustedProxies: ["10.0.0.0/8"],
          proto: "https",
        });

        await rawRequest(proxy.port, [
          "GET / HTTP/1.1",
          "Host: app.example",
          "Connection: close",
          "X-Forwarded-For: 203.0.113.7",
          "X-Forwarded-Proto: http",
          "X-Forwarded-Host: evil.example",
          "X-Forwarded-Port: 1234",
          "Forwarded: for=203.0.113.7",
          "X-Real-IP: 203.0.113.7",
          "Via: 1.0 other",
        ]);

        const headers = received[0]?.headers;
        assert.ok(headers, "upstream received no request");
        assert.equal(headers.get("x-forwarded-for"), "127.0.0.1");
        assert.equal(headers.get("x-forwarded-proto"), "https");
        assert.equal(headers.get("x-forwarded-host"), "app.example");
        assert.equal(headers.get("x-forwarded-port"), null);
        assert.equal(headers.get("forwarded"), null);
        assert.equal(headers.get("x-real-ip"), null);
        assert.equal(headers.get("via"), "1.0 other, 1.1 relight");
      }),
    },
    {
      name: "forwarding headers from trusted peer kept",
      run: withCleanup(async (cleanup) => {
        const { upstream, received } = startRecordingUpstream(cleanup);
        const proxy = startProxy(cleanup, upstream, { trustedProxies: ["127.0.0.0/8", "::1"] });

        await rawRequest(proxy.port, [
          "GET / HTTP/1.1",
          "Host: app.example",
          "Connection: close",
          "X-Forwarded-For: 203.0.113.7",
          "X-Forwarded-Proto: https",
          "X-Forwarded-Host: public.example",
          "X-Forwarded-Port: 443",
        ]);

        const headers = received[0]?.headers;
        assert.ok(headers, "upstream received no request");
        assert.equal(headers.get("x-forwarded-for"), "203.0.113.7, 127.0.0.1");
        assert.equal(headers.get("x-forwarded-proto"), "https");
        assert.equal(headers.get("x-forwarded-host"), "public.example");
        assert.equal(headers.get("x-forwarded-port"), "443");
      }),
    },
    {
      name: "hop-by-hop response headers removed",
      run: withCleanup(async (cleanup) => {
        const upstream = await startRawUpstream(cleanup, (socket) => {
          socket.end(
            [
              "HTTP/1.1 200 OK",
              "Content-Length: 2",
              "Connection: keep-alive, X-Hop",
              "Keep-Alive: timeout=5",
              "X-Hop: internal",
              "Proxy-Authenticate: Basic",
              "Upgrade: h2c",
              "Via: 1.1 app",
              "X-Kept: yes",
              "",
              "ok",
            ].join("\r\n"),
          );
        });
        const proxy = startProxy(cleanup, upstream);

        const response = await rawRequest(proxy.port, [
          "GET / HTTP/1.1",
          "Host: app.example",
          "Connection: close",
        ]);

        assert.equal(response.status, 200);
        assert.equal(response.body, "ok");
        for (const name of ["x-hop", "keep-alive", "proxy-authenticate", "upgrade"]) {
          assert.deepEqual(headerValues(response, name), [], `${name} reached the client`);
        }
        assert.deepEqual(headerValues(response, "x-kept"), ["yes"]);
        assert.deepEqual(headerValues(response, "via"), ["1.1 app, 1.1 relight"]);
        await settle();
        assert.deepEqual(proxy.ends, [200]);
      }),
    },
    {
      name: "multiple Set-Cookie headers kept",
      run: withCleanup(async (cleanup) => {
        const upstream = startUpstream(cleanup, () => {
          const headers = new Headers();
          headers.append("set-cookie", "a=1; Path=/");
          headers.append("set-cookie", "b=2; HttpOnly");
          return new Response("ok", { headers });
        });
        const proxy = startProxy(cleanup, upstream);

        const response = await rawRequest(proxy.port, [
          "GET / HTTP/1.1",
          "Host: app.example",
          "Connection: close",
        ]);

        assert.deepEqual(headerValues(response, "set-cookie"), ["a=1; Path=/", "b=2; HttpOnly"]);
      }),
    },
    {
      name: "redirect returned not followed",
      run: withCleanup(async (cleanup) => {
        let requests = 0;
        const upstream = startUpstream(cleanup, () => {
          requests++;
          return new Response(null, { status: 302, headers: { location: "/elsewhere" } });
        });
        const proxy = startProxy(cleanup, upstream);

        const response = await rawRequest(proxy.port, [
          "GET / HTTP/1.1",
          "Host: app.example",
          "Connection: close",
        ]);

        assert.equal(response.status, 302);
        assert.deepEqual(headerValues(response, "location"), ["/elsewhere"]);
        assert.equal(requests, 1);
        await settle();
        assert.deepEqual(proxy.ends, [302]);
      }),
    },
    {
      name: "HEAD keeps Content-Length",
      run: withCleanup(async (cleanup) => {
        const upstream = await startRawUpstream(cleanup, (socket) => {
          socket.end(
            "HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\nContent-Type: video/mp4\r\n\r\n",
          );
        });
        const proxy = startProxy(cleanup, upstream);

        const response = await rawRequest(proxy.port, [
          "HEAD /movie.mp4 HTTP/1.1",
          "Host: app.example",
          "Connection: close",
        ]);

        assert.equal(response.status, 200);
        assert.deepEqual(headerValues(response, "content-length"), ["5000000"]);
        assert.equal(response.body, "");
        await settle();
        assert.deepEqual(proxy.ends, [200]);
      }),
    },
  ],
};
