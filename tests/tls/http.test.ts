import { describe, expect, test } from "bun:test";
import { createConnection } from "node:net";
import { runtime } from "../../src/runtime/index.ts";
import { ChallengeResponder, redirectToHttps, withHsts } from "../../src/tls/http.ts";

function get(url: string, host?: string): Request {
  return new Request(url, host === undefined ? {} : { headers: { host } });
}

describe("redirectToHttps", () => {
  test("redirects with 308 keeping path and query", () => {
    const response = redirectToHttps(
      get("http://shop.example.com/a/b?x=1", "shop.example.com"),
      443,
    );
    expect(response?.status).toBe(308);
    expect(response?.headers.get("location")).toBe("https://shop.example.com/a/b?x=1");
  });

  test("names a non-default https port", () => {
    const response = redirectToHttps(
      get("http://shop.example.com:8080/", "shop.example.com:8080"),
      8443,
    );
    expect(response?.headers.get("location")).toBe("https://shop.example.com:8443/");
  });

  test("leaves challenge paths alone", () => {
    const request = get(
      "http://shop.example.com/.well-known/acme-challenge/abc",
      "shop.example.com",
    );
    expect(redirectToHttps(request, 443)).toBeUndefined();
  });

  test("rejects a Host with a path", () => {
    const response = redirectToHttps(get("http://shop.example.com/", "evil.test/x"), 443);
    expect(response?.status).toBe(400);
  });

  test("rejects malformed Hosts from a real listener", async () => {
    const server = runtime.serve({
      hostname: "127.0.0.1",
      port: 0,
      handler: (request) => redirectToHttps(request, 443) ?? new Response("challenge"),
    });
    try {
      const hosts = ["", "my app", "m\u00ffapp", "myapp:abc", "[::1", "victim@myapp", "a/../b"];
      for (const host of hosts) {
        const head = await rawHead(server.port, `GET /p?q=1 HTTP/1.1\r\nhost: ${host}`);
        expect(head.split("\r\n")[0], JSON.stringify(host)).toBe("HTTP/1.1 400 Bad Request");
      }

      const head = await rawHead(server.port, "GET /p?q=1 HTTP/1.1\r\nhost: shop.test");
      expect(head.toLowerCase()).toContain("\r\nlocation: https://shop.test/p?q=1\r\n");
    } finally {
      await server.stop(true);
    }
  });
});

/** Sends a request head as latin1 over a plain socket and returns the response head. */
function rawHead(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      text += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(text.slice(0, text.indexOf("\r\n\r\n") + 2)));
    socket.write(`${head}\r\nconnection: close\r\n\r\n`, "latin1");
  });
}

describe("ChallengeResponder", () => {
  const responder = new ChallengeResponder();
  responder.set("token1", "token1.thumbprint");

  test("answers a known token", async () => {
    const response = responder.handle(get("http://a.test/.well-known/acme-challenge/token1"));
    expect(response?.status).toBe(200);
    expect(await response?.text()).toBe("token1.thumbprint");
  });

  test("unknown token is 404", () => {
    const response = responder.handle(get("http://a.test/.well-known/acme-challenge/other"));
    expect(response?.status).toBe(404);
  });

  test("other paths pass through", () => {
    expect(responder.handle(get("http://a.test/index.html"))).toBeUndefined();
  });
});

describe("withHsts", () => {
  test("sets max-age", () => {
    const response = withHsts(new Response("ok"), 31536000);
    expect(response.headers.get("strict-transport-security")).toBe("max-age=31536000");
  });

  test("copies immutable headers", () => {
    const response = withHsts(Response.redirect("https://a.test/", 302), 60);
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("https://a.test/");
    expect(response.headers.get("strict-transport-security")).toBe("max-age=60");
  });
});
