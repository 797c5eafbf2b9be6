/**
 * Server-sent events and WebSocket echo: messages per second through each
 * proxy and directly.
 */
import { runtime } from "../../src/runtime/index.ts";
import type { Contestant } from "./contestants.ts";
import { median } from "./load.ts";
import { formatNumber, formatRatio, type SectionReport, table } from "./report.ts";
import { type BenchContext, inRounds, ratio } from "./rounds.ts";

const newline = 10;

/** Reads `/sse?n=count` and returns events per second, or throws if any event is missing. */
async function sseRate(contestant: Contestant, count: number): Promise<number> {
  const start = performance.now();
  const response = await fetch(`${contestant.origin}/sse?n=${count}`, {
    headers: { host: contestant.host },
  });
  if (response.status !== 200 || !response.body) {
    throw new Error(`SSE through ${contestant.name}: status ${response.status}`);
  }

  // Each event ends with a blank line, so events are counted as "\n\n" pairs,
  // also when a pair is split across two chunks.
  let events = 0;
  let previous = 0;
  for await (const chunk of response.body) {
    for (const byte of chunk) {
      if (byte === newline && previous === newline) {
        events++;
        previous = 0;
      } else {
        previous = byte;
      }
    }
  }
  const seconds = (performance.now() - start) / 1000;
  if (events !== count) {
    throw new Error(`SSE through ${contestant.name}: expected ${count} events, got ${events}`);
  }
  return events / seconds;
}

function openSocket(contestant: Contestant): Promise<WebSocket> {
  const url = `${contestant.origin.replace(/^http/, "ws")}/ws`;
  const socket = runtime.connectWebSocket(url, { headers: [["host", contestant.host]] });
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error(`WebSocket to ${contestant.name} failed to open`));
  });
}

/**
 * Runs `sockets` WebSockets that each send a 32-byte message and wait for its
 * echo, for `seconds`, and returns echoes per second over all sockets.
 */
async function echoRate(contestant: Contestant, sockets: number, seconds: number): Promise<number> {
  const opened = await Promise.all(Array.from({ length: sockets }, () => openSocket(contestant)));
  const message = "x".repeat(32);
  const deadline = performance.now() + seconds * 1000;
  let echoes = 0;

  const start = performance.now();
  await Promise.all(opened.map((socket) =>
    new Promise<void>((resolve, reject) => {
      socket.onmessage = () => {
        echoes++;
        if (performance.now() < deadline) socket.send(message);
        else resolve();
      };
      socket.onclose = () => reject(new Error(`WebSocket through ${contestant.name} closed early`));
      socket.send(message);
    })
  ));
  const elapsed = (performance.now() - start) / 1000;

  for (const socket of opened) {
    socket.onclose = null;
    socket.close(1000);
  }
  return echoes / elapsed;
}

export async function measureStreams(
  context: BenchContext,
  sseEvents: number,
  echoSockets: number,
): Promise<SectionReport> {
  const { settings, contestants } = context;
  const sse = await inRounds(context, contestants, "SSE", (c) => sseRate(c, sseEvents));
  const withSockets = contestants.filter((c) => c.webSocket);
  const echo = await inRounds(
    context,
    withSockets,
    "WebSocket echo",
    (c) => echoRate(c, echoSockets, settings.durationSeconds),
  );

  const sseMedian = new Map([...sse].map(([name, runs]) => [name, median(runs)]));
  const echoMedian = new Map([...echo].map(([name, runs]) => [name, median(runs)]));
  const rows = contestants.map((c) => [
    c.name,
    formatNumber(sseMedian.get(c.name)!),
    formatRatio(ratio(sseMedian, c.name)),
    c.webSocket ? formatNumber(echoMedian.get(c.name)!) : "not supported",
    c.webSocket ? formatRatio(ratio(echoMedian, c.name)) : "n/a",
  ]);

  return {
    title: "Server-sent events and WebSocket echo",
    method: `SSE: one GET /sse?n=${sseEvents} per contestant per round; the app writes the ` +
      "events as fast as the stream is read, and the client counts them. WebSocket: " +
      `${echoSockets} sockets, each sending a 32-byte text message and waiting for its echo, ` +
      `for ${settings.durationSeconds} s. Both clients run inside the harness process (Bun). ` +
      "Messages per second, median over rounds.",
    table: table(
      ["contestant", "SSE events/s", "relight / this", "WS echoes/s", "relight / this"],
      rows,
    ),
    commands: [],
    targets: [],
    notes: ["The bare Bun proxy has no WebSocket support, so it has no echo figure."],
  };
}
