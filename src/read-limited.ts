/**
 * Reading files that the config names, up to a size limit. A path to an
 * endless file such as /dev/zero, or a huge file named by mistake, then
 * fails with a clear error instead of filling memory while the read goes on.
 */
import { closeSync, openSync, readSync, type Stats, statSync } from "node:fs";
import { open, stat } from "node:fs/promises";

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

/**
 * Raised for a FIFO, socket or device. Opening a FIFO that no process writes
 * to waits forever, and a device such as /dev/zero never ends.
 */
export class NotRegularFileError extends Error {
  override name = "NotRegularFileError";

  constructor(readonly path: string) {
    super(`"${path}" is not a regular file`);
  }
}

/** Throws `NotRegularFileError` unless `stats` is a regular file or a directory. */
function checkType(path: string, stats: Stats): void {
  // A directory fails on read with EISDIR, which callers report in their own words.
  if (!stats.isFile() && !stats.isDirectory()) throw new NotRegularFileError(path);
}

/** Formats a byte limit as KiB or MiB, such as "1 MiB". */
export function formatLimit(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}

/** Chunks of one file read so far, failing once they pass the limit. */
class LimitedText {
  readonly #chunks: Buffer[] = [];
  #total = 0;

  constructor(readonly path: string, readonly maxBytes: number) {}

  /** Keeps the first `read` bytes of `chunk`; throws `FileTooLargeError` past the limit. */
  keep(chunk: Buffer, read: number): void {
    this.#total += read;
    if (this.#total > this.maxBytes) throw new FileTooLargeError(this.path, this.maxBytes);
    this.#chunks.push(chunk.subarray(0, read));
  }

  /** Returns the bytes kept so far, decoded as UTF-8. */
  text(): string {
    return Buffer.concat(this.#chunks, this.#total).toString("utf8");
  }
}

/**
 * Reads `path` as UTF-8 text. Throws `NotRegularFileError` for a FIFO,
 * socket or device, `FileTooLargeError` once more than `maxBytes` were read,
 * and the file system's errors (`ENOENT`, `EISDIR`) as they are.
 */
export function readTextFileSync(path: string, maxBytes: number): string {
  checkType(path, statSync(path));
  const fd = openSync(path, "r");
  try {
    const text = new LimitedText(path, maxBytes);
    for (;;) {
      const chunk = Buffer.allocUnsafe(readSize);
      const read = readSync(fd, chunk, 0, readSize, null);
      if (read === 0) return text.text();
      text.keep(chunk, read);
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads `path` as `readTextFileSync` does, without blocking the event loop. */
export async function readTextFile(path: string, maxBytes: number): Promise<string> {
  checkType(path, await stat(path));
  const handle = await open(path, "r");
  try {
    const text = new LimitedText(path, maxBytes);
    for (;;) {
      const chunk = Buffer.allocUnsafe(readSize);
      const { bytesRead } = await handle.read(chunk, 0, readSize, null);
      if (bytesRead === 0) return text.text();
      text.keep(chunk, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
