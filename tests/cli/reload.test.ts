import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/index.ts";
import { type Relight, startRelight } from "../../src/relight.ts";
import { runtime } from "../../src/runtime/index.ts";
import { TempDir } from "./support.ts";

const dir = new TempDir();
const SECRET = "5550001112223";
let relight: Relight;
let path: string;

function configText(extra: string): string {
  return [
    "listen: 127.0.0.1:0",
    `slicer:\n  url: ${dir.path}/slicer.sock`,
    "admin:\n  listen: 127.0.0.1:0",
    extra,
  ].join("\n");
}

beforeAll(async () => {
  path = dir.write("relight.yaml", configText(""));
  relight = await startRelight(await loadConfig(path, {}), { processMetrics: false });
});

afterAll(async () => {
  await relight.shutdown();
  dir.remove();
});

/** Writes `text` as the config file and requests `POST /reload`. */
async function reloadWith(text: string): Promise<{ status: number; body: string }> {
  dir.write("relight.yaml", text);
  const admin = relight.adminAddress;
  const response = await fetch(`http://127.0.0.1:${admin?.port}/reload`, { method: "POST" });
  return { status: response.status, body: await response.text() };
}

describe("POST /reload with a bad file", () => {
  test("alias bomb gets 422", async () => {
    const lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]'];
    for (const [name, previous] of [["b", "a"], ["c", "b"], ["d", "c"], ["e", "d"]]) {
      lines.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(", ")}]`);
    }
    const { status, body } = await reloadWith(`${lines.join("\n")}\n${configText("")}`);

    expect(status).toBe(422);
    expect(body).toContain(`${path}:2:8: invalid YAML: aliases expand to too many nodes`);
  });

  test("numeric token not echoed", async () => {
    const { status, body } = await reloadWith(
      configText(`slicer_token: ${SECRET}\n`).replace("admin:", `admin:\n  token: ${SECRET}`),
    );

    expect(status).toBe(422);
    expect(body).toContain("admin.token: is a number, not a token string");
    expect(body).not.toContain(SECRET);
  });

  test("slicer url password not echoed", async () => {
    const { status, body } = await reloadWith(
      configText("").replace(
        `url: ${dir.path}/slicer.sock`,
        `url: "http://user:${SECRET}@127.0.0.1:9/"`,
      ),
    );

    expect(status).toBe(422);
    expect(body).toContain("slicer.url: ");
    expect(body).not.toContain(SECRET);
  });

  test("busy ask port names ask.listen", async () => {
    const busy = runtime.serve({ hostname: "127.0.0.1", port: 0, handler: () => new Response() });
    try {
      const { body } = await reloadWith(configText(`ask:\n  listen: 127.0.0.1:${busy.port}\n`));
      const { errors } = JSON.parse(body) as { errors: string[] };
      expect(errors).toEqual([
        `failed to bind ask.listen "127.0.0.1:${busy.port}": Failed to start server. Is port ${busy.port} in use?`,
      ]);
    } finally {
      await busy.stop(true);
    }
  });

  test("busy admin port names admin.listen", async () => {
    const busy = runtime.serve({ hostname: "127.0.0.1", port: 0, handler: () => new Response() });
    try {
      const { body } = await reloadWith(
        configText("").replace(
          "admin:\n  listen: 127.0.0.1:0",
          `admin:\n  listen: 127.0.0.1:${busy.port}`,
        ),
      );
      const { errors } = JSON.parse(body) as { errors: string[] };
      expect(errors).toEqual([
        `failed to bind admin.listen "127.0.0.1:${busy.port}": Failed to start server. Is port ${busy.port} in use?`,
      ]);
    } finally {
      await busy.stop(true);
    }
  });

  test("valid file reloads after rejections", async () => {
    const { status } = await reloadWith(configText("watch_interval: 10s\n"));
    expect(status).toBe(200);
  });
});
