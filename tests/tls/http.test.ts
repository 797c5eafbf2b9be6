import { describe, expect, test } from "bun:test";
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
});

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
