/** The `relight --help` text. */
import { stopSignalRepeatWindowMs } from "../admin/lifecycle.ts";
import { DEFAULT_CONFIG_PATH } from "./args.ts";

const repeatWindow = `${stopSignalRepeatWindowMs / 1000} s`;

export const HELP = `Relight: scale-to-zero HTTP edge router for SlicerVM hosts.

Usage:
  relight [--config FILE]                 Run the router until SIGTERM or SIGINT
  relight check [--config FILE]           Validate the config file and print the effective
                                          config, with defaults filled in and tokens redacted
  relight status [--config FILE] [--json] Print the VMs and slicerd state of a running Relight,
                                          read from its admin server (admin.listen)
  relight reload [--config FILE]          Make a running Relight re-read its config file,
                                          through its admin server (admin.listen)

Options:
  -c, --config FILE   Config file, relative to the working directory
                      (default: ${DEFAULT_CONFIG_PATH})
      --json          With status: print the report as JSON (default: a table)
  -h, --help          Print this help and exit
  -v, --version       Print the version and exit

Signals (while running):
  SIGHUP              Re-read the config file; an invalid file is logged and the old config kept
  SIGTERM, SIGINT     Stop accepting connections, let requests finish for up to
                      shutdown_timeout (default 30s), then exit 0. Another SIGTERM or SIGINT
                      more than ${repeatWindow} after the first exits at once with code 1, and
                      one within ${repeatWindow} is ignored as a copy of the first

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.`;
