/**
 * Environment variable expansion in relight.yaml values: `${VAR}`,
 * `${VAR:-default}` and the Caddyfile form `{env.VAR}`. `$${` stands for a
 * literal `${`.
 */

// The last alternative matches a `${` that no `}` follows, which is an unclosed reference.
const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\{env\.([A-Za-z_][A-Za-z0-9_]*)\}|\$\{/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type Environment = Record<string, string | undefined>;

/** One bad reference: the message, and the index in the text where the reference starts. */
export interface ExpansionError {
  message: string;
  index: number;
}

/** Result of expanding one string: the new text, or the error for each bad reference. */
export type Expansion =
  | { value: string; errors: [] }
  | { value: undefined; errors: ExpansionError[] };

/** Expands every variable reference in `text`, collecting an error for each one that fails. */
export function expandEnv(text: string, env: Environment): Expansion {
  const errors: ExpansionError[] = [];

  const value = text.replace(REFERENCE, (match: string, ...groups: unknown[]) => {
    if (match === "$${") return "${";

    const [braced, caddyName, index] = groups;
    const report = (message: string) => errors.push({ message, index: Number(index) });
    if (typeof caddyName === "string") {
      return lookUp(caddyName, undefined, env, report);
    }
    if (typeof braced !== "string") {
      report(`unclosed "\${" (end the reference with "}", or write "$\${" for a literal "\${")`);
      return match;
    }

    const reference = braced;
    const separator = reference.indexOf(":-");
    const name = separator === -1 ? reference : reference.slice(0, separator);
    const fallback = separator === -1 ? undefined : reference.slice(separator + 2);
    if (!NAME.test(name)) {
      report(`"${match}" is not a valid variable reference (use \${NAME} or \${NAME:-default})`);
      return match;
    }
    return lookUp(name, fallback, env, report);
  });

  return errors.length === 0 ? { value, errors: [] } : { value: undefined, errors };
}

/** Reports whether `text` contains anything `expandEnv` would change. */
export function hasEnvReference(text: string): boolean {
  REFERENCE.lastIndex = 0;
  return REFERENCE.test(text);
}

function lookUp(
  name: string,
  fallback: string | undefined,
  env: Environment,
  report: (message: string) => void,
): string {
  const value = env[name];
  if (value !== undefined && !(fallback !== undefined && value === "")) return value;
  if (fallback !== undefined) return fallback;

  report(
    `environment variable ${name} is not set (set it, or write \${${name}:-default} to give a default)`,
  );
  return "";
}
