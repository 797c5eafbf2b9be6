/** Reading `slicer.token_file`, at load time and again on every reload. */
import {
  FileTooLargeError,
  formatLimit,
  NotRegularFileError,
  readTextFileSync,
} from "../read-limited.ts";
import * as v from "valibot";
import type { Problem } from "./document.ts";
import { isTokenText, path, type SchemaContext, TOKEN_TEXT_MESSAGE } from "./fields.ts";

/** The Slicer token read from the file, and problems reading it. */
export interface SlicerToken {
  token?: string;
  /** Path of `token_file`, kept so a reload reads it again. */
  tokenFile?: string;
  problems: Problem[];
}

/**
 * Reads `slicer.token_file` from the raw document when `slicer.token` is
 * unset. It reads the file whenever the path itself is valid, so an
 * unreadable file is reported beside invalid values elsewhere.
 */
export function readSlicerToken(data: unknown, context: SchemaContext): SlicerToken {
  const slicer = mapping(data)?.["slicer"];
  const rawToken = mapping(slicer)?.["token"];
  const token = typeof rawToken === "string" ? rawToken : "";
  const rawFile = mapping(slicer)?.["token_file"];

  if (rawFile === undefined || rawFile === null) {
    return token === "" ? { problems: [] } : { token, problems: [] };
  }

  // Both keys set is reported by checkExclusiveKeys, and an invalid path by the schema.
  const parsed = v.safeParse(path(context, "a file path"), rawFile);
  if (token !== "" || !parsed.success) return { problems: [] };

  const tokenFile = parsed.output;
  const read = readTokenFile(tokenFile);
  if ("error" in read) {
    return {
      tokenFile,
      problems: [{ path: ["slicer", "token_file"], at: "value", message: read.error }],
    };
  }
  return { token: read.token, tokenFile, problems: [] };
}

/** Largest token file read, in bytes. */
const maxTokenFileBytes = 64 * 1024;

/** Reads a token file, dropping trailing newlines and rejecting text `isTokenText` rejects. */
export function readTokenFile(path: string): { token: string } | { error: string } {
  let content: string;
  try {
    content = readTextFileSync(path, maxTokenFileBytes);
  } catch (error) {
    if (error instanceof NotRegularFileError) {
      return { error: `"${path}" is not a regular file (it must contain only the token)` };
    }
    if (error instanceof FileTooLargeError) {
      return {
        error: `"${path}" is larger than ${
          formatLimit(maxTokenFileBytes)
        } (it must contain only the token)`,
      };
    }
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT"
      ? "file not found"
      : code === "EISDIR"
      ? "it is a directory"
      : code === "EACCES"
      ? "permission denied"
      : String(error);
    return { error: `"${path}" could not be read (${reason})` };
  }

  const token = content.replace(/[\r\n]+$/, "");
  if (token === "") return { error: `"${path}" is empty (it must contain the token)` };
  if (!isTokenText(token)) return { error: `the token in "${path}" ${TOKEN_TEXT_MESSAGE}` };
  return { token };
}

function mapping(value: unknown): Record<string, unknown> | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  return value as Record<string, unknown>;
}
