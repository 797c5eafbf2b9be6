/** Formats `hostname:port` for a URL or `Host`, with brackets around an IPv6 address. */
export function formatAuthority(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
