// A bulk HTTP client in its own Node.js process, so that a test measuring the
// router's memory does not count the client's buffers.
//
// Usage: node bulk-client.mjs upload|download URL HOST BYTES
// Prints one JSON line: {"status": 200, "bytes": <bytes of response body>}.
import http from "node:http";

const [mode, url, host, size] = process.argv.slice(2);
const total = Number(size);
const chunk = Buffer.alloc(64 * 1024, 0x62);

const request = http.request(url, {
  method: mode === "upload" ? "POST" : "GET",
  headers: { host, "content-type": "application/octet-stream" },
});
request.on("error", (error) => {
  console.error(String(error));
  process.exit(1);
});
request.on("response", (response) => {
  let bytes = 0;
  response.on("data", (data) => {
    bytes += data.length;
  });
  response.on("end", () => {
    console.log(JSON.stringify({ status: response.statusCode, bytes }));
  });
});

if (mode !== "upload") {
  request.end();
} else {
  // Chunked upload written with backpressure, never held whole.
  let sent = 0;
  const write = () => {
    while (sent < total) {
      const length = Math.min(chunk.length, total - sent);
      sent += length;
      const more = request.write(length === chunk.length ? chunk : chunk.subarray(0, length));
      if (!more) {
        request.once("drain", write);
        return;
      }
    }
    request.end();
  };
  write();
}
