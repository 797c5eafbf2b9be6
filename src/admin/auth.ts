/** Bearer token checks for the admin API. */
import { createHash, timingSafeEqual } from "node:crypto";

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/**
 * Returns whether an `Authorization` header carries `Bearer <token>`. The
 * comparison takes the same time for every wrong token of any length,
 * because both sides are hashed to 32 bytes before a constant-time compare.
 */
export function isAuthorized(header: string | undefined, token: string): boolean {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? "");
  const presented = match?.[1] ?? "";
  const equal = timingSafeEqual(digest(presented), digest(token));
  return equal && presented !== "";
}
