/** Errors of waking a VM for a request. */
import type { WakeResult } from "../observe.ts";

/** A wake that did not end with the VM ready; `result` is how it ended. */
export class WakeError extends Error {
  readonly result: Exclude<WakeResult, "ok">;

  constructor(result: Exclude<WakeResult, "ok">, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WakeError";
    this.result = result;
  }
}
