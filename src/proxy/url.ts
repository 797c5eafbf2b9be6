/** Returns the path and query of an absolute URL, without parsing all of it. */
export function pathAndQuery(url: string): string {
  const authorityStart = url.indexOf("//");
  const pathStart = url.indexOf("/", authorityStart === -1 ? 0 : authorityStart + 2);
  return pathStart === -1 ? "/" : url.slice(pathStart);
}
