/**
 * A stand-in for slicerd's `GET /nodes` with a large fleet, for the index
 * scale measurement. The simulator runs every VM as a real process on one
 * /24 of loopback addresses, so it cannot list 10,000 VMs. This server lists
 * `COUNT` running VMs in host group `bench`: the first is tagged `BENCH_TAG`
 * and points at `BENCH_IP` (a real app), the others have addresses that are
 * never contacted. Listens on the unix socket `SOCKET` and prints "ready".
 */
import { createServer } from "node:http";

const socketPath = process.env["SOCKET"];
const count = Number(process.env["COUNT"]);
const benchTag = process.env["BENCH_TAG"];
const benchIp = process.env["BENCH_IP"];
if (!socketPath || !benchTag || !benchIp || !Number.isSafeInteger(count) || count < 1) {
  throw new Error("SOCKET, COUNT (a positive integer), BENCH_TAG and BENCH_IP must be set");
}

const nodes = Array.from({ length: count }, (_, i) => ({
  hostname: `bench-${i + 1}`,
  hostgroup: "bench",
  // Loopback addresses in 127.200.0.0/13, where nothing listens, for the VMs
  // that no request is routed to.
  ip: i === 0 ? benchIp : `127.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
  tags: [i === 0 ? benchTag : `vm-${i}.scale.test`],
  status: "Running",
  ram_bytes: 536_870_912,
  cpus: 1,
}));
const body = JSON.stringify(nodes);

const server = createServer((request, response) => {
  if (request.method === "GET" && request.url?.startsWith("/nodes")) {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(body);
    return;
  }
  response.writeHead(404, { "content-type": "application/json" });
  response.end(JSON.stringify({ error: "not found" }));
});
server.listen(socketPath, () => process.stdout.write("ready\n"));
