/**
 * Reading files that the config names, up to a size limit. A path to an
 * endless file such as /dev/zero, or a huge file named by mistake, then
 * fails with a clear error instead of filling memory while the read goes on.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";

/** Bytes read per call. */
const readSize = 64 * 1024;

/** Raised when a file is larger than the limit allows. */
export class FileTooLargeError extends Error {
  override name = "FileTooLargeError";
  readonly code = "EFBIG";

  constructor(readonly path: string, readonly maxBytes: number) {
    super(`"${path}" is larger than ${formatLimit(maxBytes)}`);
  }
}

/** Formats a byte limit as KiB or MiB, such as "1 MiB". */
export function formatLimit(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}

/**
 * Reads `path` as UTF-8 text. Throws `FileTooLargeError` once more than
 * `maxBytes` were read, and the file system's errors (`ENOENT`, `EISDIR`) as
 * they are.
 */
export function readTextFileSync(path: string, maxBytes: number): string {
  const fd = openSync(path, "r");
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(readSize);
      const read = readSync(fd, chunk, 0, readSize, null);
      if (read === 0) break;
      total += read;
      if (total > maxBytes) throw new FileTooLargeError(path, maxBytes);
      chunks.push(chunk.subarray(0, read));
    }
    return Buffer.concat(chunks, total).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** Reads `path` as `readTextFileSync` does, without blocking the event loop. */
export async function readTextFile(path: string, maxBytes: number): Promise<string> {
  const handle = await open(path, "r");
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(readSize);
      const { bytesRead } = await handle.read(chunk, 0, readSize, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw new FileTooLargeError(path, maxBytes);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total).toString("utf8");
  } finally {
    await handle.close();
  }
}
