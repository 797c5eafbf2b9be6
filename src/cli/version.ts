/** Relight's version, read from package.json at build time so the compiled binary contains it. */
import packageJson from "../../package.json" with { type: "json" };

export const VERSION: string = packageJson.version;
