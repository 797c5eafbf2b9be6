/**
 * A SIGHUP handler for the whole life of the process. SIGHUP's default action
 * ends the process, so a SIGHUP that came while Relight loads its modules or
 * starts, or after it stopped, would end it without a line of output. The
 * entry point installs this handler before it loads anything else. The
 * handler only notes the signal, and `relight` reloads once started when one
 * came after the config was read.
 */
import { runtime } from "../runtime/index.ts";

let received = false;
let installed = false;

/** Installs the handler, once per process. */
export function holdHangups(): void {
  if (installed) return;
  installed = true;
  runtime.onSignal("SIGHUP", () => {
    received = true;
  });
}

/** Returns whether a SIGHUP came since the last call, and clears the note. */
export function takeHangup(): boolean {
  const wasReceived = received;
  received = false;
  return wasReceived;
}
