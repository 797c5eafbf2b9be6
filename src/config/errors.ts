/** The error thrown when relight.yaml cannot be loaded. */
export class ConfigError extends Error {
  /** Every problem found, each as `file:line:col: key.path: message`. */
  readonly messages: readonly string[];

  constructor(messages: readonly string[]) {
    super(messages.join("\n"));
    this.name = "ConfigError";
    this.messages = messages;
  }
}
