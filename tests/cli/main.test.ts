import { afterAll, describe, expect, test } from "bun:test";
import { stopSignalRepeatWindowMs } from "../../src/admin/lifecycle.ts";
import { OPTIONS, parseCommandLine } from "../../src/cli/args.ts";
import { configChecks } from "../../src/cli/check.ts";
import { main } from "../../src/cli/main.ts";
import { parseConfig } from "../../src/config/index.ts";
import packageJson from "../../package.json" with { type: "json" };
import { CapturedOutput, TempDir } from "./support.ts";

const dir = new TempDir();
afterAll(() => dir.remove());

async function run(args: string[]): Promise<{ code: number; output: CapturedOutput }> {
  const output = new CapturedOutput();
  const code = await main(args, output, { HOME: dir.path });
  return { code, output };
}

describe("command line parsing", () => {
  test("no command runs", () => {
    expect(parseCommandLine([])).toEqual({
      kind: "command",
      command: "run",
      configPath: "./relight.yaml",
      json: false,
    });
  });

  test("check with short config flag", () => {
    expect(parseCommandLine(["check", "-c", "x.yaml"])).toEqual({
      kind: "command",
      command: "check",
      configPath: "x.yaml",
      json: false,
    });
  });

  test("status with json", () => {
    expect(parseCommandLine(["status", "--json", "--config=a.yaml"])).toEqual({
      kind: "command",
      command: "status",
      configPath: "a.yaml",
      json: true,
    });
  });

  test("help wins over command", () => {
    expect(parseCommandLine(["check", "--help"])).toEqual({ kind: "help" });
  });
});

describe("relight usage", () => {
  test("version from package.json", async () => {
    const { code, output } = await run(["--version"]);
    expect(code).toBe(0);
    expect(output.stdout).toEqual([`relight ${packageJson.version}`]);
  });

  test("help lists every flag", async () => {
    const { code, output } = await run(["--help"]);
    const help = output.stdout.join("\n");
    expect(code).toBe(0);
    const valueNames: Record<string, string> = { config: "FILE" };
    for (const [name, option] of Object.entries(OPTIONS)) {
      const short = "short" in option ? `-${option.short}, ` : "    ";
      const value = option.type === "string" ? ` ${valueNames[name] ?? name.toUpperCase()}` : "";
      expect(help).toMatch(new RegExp(`^  ${short}--${name}${value} `, "m"));
    }
    expect(help).toContain("(default: ./relight.yaml)");
    expect(help).toContain("shutdown_timeout (default 30s)");
  });

  test("help states the signal repeat window", async () => {
    const { output } = await run(["--help"]);
    const help = output.stdout.join("\n").replace(/\s+/g, " ");
    const window = `${stopSignalRepeatWindowMs / 1000} s`;
    expect(help).toContain(`more than ${window} after the first exits at once with code 1`);
    expect(help).toContain(`one within ${window} is ignored`);
  });

  const usageErrors: [string[], string][] = [
    [["bogus"], 'relight: unknown command "bogus"'],
    [["check", "extra"], 'relight: unexpected argument "extra"'],
    [["--nope"], "relight: unknown option --nope (see relight --help)"],
    [["check", "-z"], "relight: unknown option -z (see relight --help)"],
    [["--nope=1"], "relight: unknown option --nope (see relight --help)"],
    [["check", "--json"], "relight: --json applies only to relight status"],
    [["check", "--config"], "relight: Option '-c, --config <value>' argument missing"],
  ];
  for (const [args, message] of usageErrors) {
    test(`usage error: ${args.join(" ")}`, async () => {
      const { code, output } = await run(args);
      expect(code).toBe(2);
      expect(output.stderr[0]).toStartWith(message);
      expect(output.stdout).toEqual([]);
    });
  }
});

describe("relight check", () => {
  test("valid file prints effective config", async () => {
    const path = dir.write(
      "valid.yaml",
      "slicer:\n  url: /run/slicer.sock\n  token: top-secret\nsites:\n  - match: '*'\n",
    );
    const { code, output } = await run(["check", "--config", path]);
    const printed = output.stdout.join("\n");

    expect(code).toBe(0);
    expect(output.stderr).toEqual([]);
    expect(printed).toContain("idle_timeout: 5m");
    expect(printed).toContain("token: <redacted>");
    expect(printed).not.toContain("top-secret");
  });

  test("output round-trips through check", async () => {
    const path = dir.write(
      "round.yaml",
      "slicer:\n  url: http://127.0.0.1:1\nwatch_interval: 1m\nsites:\n  - match: '*.a.example'\n    app_port: 3000\n",
    );
    const first = await run(["check", "--config", path]);
    const printed = dir.write("printed.yaml", first.output.stdout.join("\n"));
    const second = await run(["check", "--config", printed]);

    expect(second.code).toBe(0);
    expect(parseConfig(second.output.stdout.join("\n"), { file: path })).toEqual(
      parseConfig(first.output.stdout.join("\n"), { file: path }),
    );
    expect(second.output.stdout.slice(1)).toEqual(first.output.stdout.slice(1));
  });

  test("invalid file exits 2 with every error", async () => {
    const path = dir.write(
      "invalid.yaml",
      "slicer:\n  url: /s.sock\nwatch_interval: 5\ndefaults:\n  idle_timeout: 1s\n",
    );
    const { code, output } = await run(["check", "--config", path]);

    expect(code).toBe(2);
    expect(output.stdout).toEqual([]);
    expect(output.stderr).toEqual([
      `${path}:3:17: watch_interval: 5 is not a duration (use e.g. "30s" or "5m")`,
      `${path}:5:17: defaults.idle_timeout: "1s" is below the minimum of 30s`,
      `${path}: invalid (2 problems)`,
    ]);
  });

  test("missing file exits 2", async () => {
    const path = `${dir.path}/absent.yaml`;
    const { code, output } = await run(["check", "--config", path]);
    expect(code).toBe(2);
    expect(output.stderr[0]).toBe(
      `${path}: config file not found (pass --config FILE to use another file)`,
    );
  });

  test("missing certificate fails the tls check", async () => {
    const path = dir.write(
      "tls.yaml",
      `slicer:\n  url: /s.sock\ntls:\n  certificates:\n    - cert_file: ${dir.path}/none.crt\n      key_file: ${dir.path}/none.key\n`,
    );
    const { code, output } = await run(["check", "--config", path]);
    expect(code).toBe(2);
    expect(output.stderr[0]).toBe(
      `${path}:5:7: tls.certificates[0]: certificate ${dir.path}/none.crt: file not found`,
    );
    expect(output.stderr.at(-1)).toBe(`${path}: invalid (1 problem)`);
  });

  test("missing acme ca_bundle has a position", async () => {
    const path = dir.write(
      "acme.yaml",
      `slicer:\n  url: /s.sock\ntls:\n  acme:\n    storage: ${dir.path}\n    ca_bundle: ${dir.path}/none.pem\n`,
    );
    const { code, output } = await run(["check", "--config", path]);
    expect(code).toBe(2);
    expect(output.stderr[0]).toBe(
      `${path}:6:16: tls.acme.ca_bundle: ${dir.path}/none.pem: file not found`,
    );
  });

  test("alias bomb exits 2", async () => {
    const lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]'];
    for (const [name, previous] of [["b", "a"], ["c", "b"], ["d", "c"], ["e", "d"]]) {
      lines.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(", ")}]`);
    }
    const path = dir.write("bomb.yaml", `${lines.join("\n")}\nslicer:\n  url: /s.sock\n`);
    const { code, output } = await run(["check", "--config", path]);

    expect(code).toBe(2);
    expect(output.stderr).toEqual([
      `${path}:2:8: invalid YAML: aliases expand to too many nodes (the yaml maxAliasCount limit is 100; write the values out instead)`,
      `${path}: invalid (1 problem)`,
    ]);
  });

  test("secrets never printed", async () => {
    const secret = "5550001112223";
    const files = [
      `slicer:\n  url: /s.sock\n  token: ${secret}\n`,
      `slicer:\n  url: /s.sock\nadmin:\n  token: ${secret}\n`,
      `slicer:\n  url: "http://user:${secret}@127.0.0.1:9/"\n`,
      `slicer:\n  url: /s.sock\n  token: "${secret}"\nadmin:\n  token: "${secret}"\n`,
    ];
    for (const [index, text] of files.entries()) {
      const path = dir.write(`secret-${index}.yaml`, text);
      const { output } = await run(["check", "--config", path]);
      const printed = [...output.stdout, ...output.stderr].join("\n");
      expect(printed).not.toContain(secret);
    }
  });

  test("extra checks add errors and notes", async () => {
    const path = dir.write("hook.yaml", "slicer:\n  url: /s.sock\n");
    configChecks.push(() => ({ errors: [], notes: ["checked by a test"] }));
    try {
      const { code, output } = await run(["check", "--config", path]);
      expect(code).toBe(0);
      expect(output.stdout.at(-1)).toBe("# checked by a test");
    } finally {
      configChecks.pop();
    }
  });
});
