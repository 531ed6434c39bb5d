// Many socket.io clients through a load balancer, for the drain test: they
// count the demo chat's numbered messages in the lobby while one node is
// drained, and say whether every one of them arrived once, in order.
//
//   node drain-clients.mjs <url> <count>
//
// The clients use WebSocket only and socket.io-client's default
// reconnection settings (first retry after 1 s ± 50%), the ones the README's
// drain bound is computed for. They connect in batches of 50.
//
// Prints {"ev":"ready","clients":n} once every client is connected and in
// the lobby. Then reads one line "end <N>" on stdin: waits until every
// client has message N (at most 30 s) and prints one line
// {"ev":"report", ...}: how many clients are connected, how many got
// exactly 1..N in order, the reconnections (epoch ms, recovered or not),
// the disconnect reasons, connect errors, and a few bad clients in detail.
import { io } from "socket.io-client";
import readline from "node:readline";
import { monitorEventLoopDelay } from "node:perf_hooks";

const [url, countArg] = process.argv.slice(2);
const count = Number(countArg);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const fail = (err) => {
  out({ ev: "error", message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
// A bound on the whole run, so that a stuck test never leaves us behind.
setTimeout(() => fail("drain-clients: still running after 150 s"), 150_000).unref();

const clients = [];
const connectErrors = {};
const reasons = {};
const disconnects = []; // epoch ms

function track(i) {
  const c = {
    i,
    firstId: "",
    last: 0, // the last message number received
    gaps: 0,
    dups: 0,
    odd: [], // the first few out-of-sequence numbers
    reconnects: [], // [epoch ms, recovered, same id]
    joined: false,
  };
  const s = io(url, { transports: ["websocket"], forceNew: true });
  c.s = s;
  s.on("connect", () => {
    if (!c.firstId) {
      c.firstId = s.id;
      return;
    }
    c.reconnects.push([Date.now(), s.recovered, s.id === c.firstId]);
  });
  s.on("joined", () => {
    c.joined = true;
  });
  s.on("connect_error", (e) => {
    const k = String(e && e.message);
    connectErrors[k] = (connectErrors[k] || 0) + 1;
  });
  s.on("disconnect", (reason) => {
    reasons[reason] = (reasons[reason] || 0) + 1;
    disconnects.push(Date.now());
  });
  s.on("chat", (m) => {
    const n = Number(m.text);
    if (n === c.last + 1) {
      c.last = n;
      return;
    }
    if (n <= c.last) c.dups++;
    else c.gaps++;
    if (c.odd.length < 5) c.odd.push([c.last, n]);
    c.last = Math.max(c.last, n);
  });
  return c;
}

const until = (cond, ms) =>
  new Promise((resolve) => {
    const end = Date.now() + ms;
    const tick = () => (cond() || Date.now() > end ? resolve(cond()) : setTimeout(tick, 20));
    tick();
  });

for (let i = 0; i < count; i += 50) {
  const batch = [];
  for (let j = i; j < Math.min(count, i + 50); j++) batch.push(track(j));
  clients.push(...batch);
  if (!(await until(() => batch.every((c) => c.joined), 30_000))) {
    fail(`drain-clients: clients ${i}..${i + batch.length - 1} not connected and in the lobby after 30 s; connect errors ${JSON.stringify(connectErrors)}`);
  }
}
out({ ev: "ready", clients: clients.length });

// How late this process ran its callbacks while the node drained: a busy
// machine delays what the clients see, and so the times they report.
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();

const rl = readline.createInterface({ input: process.stdin });
rl.once("line", async (line) => {
  const total = Number(line.split(" ")[1]);
  await until(() => clients.every((c) => c.last >= total), 30_000);
  const bad = clients.filter((c) => c.last !== total || c.gaps || c.dups || !c.s.connected);
  const reconnects = clients.flatMap((c) => c.reconnects);
  out({
    ev: "report",
    clients: clients.length,
    connected: clients.filter((c) => c.s.connected).length,
    complete: clients.length - bad.length,
    reconnectedClients: clients.filter((c) => c.reconnects.length > 0).length,
    reconnects: reconnects.map((r) => r[0]),
    disconnects,
    notRecovered: reconnects.filter((r) => !r[1] || !r[2]).length,
    reasons,
    connectErrors,
    loopDelayMaxMs: loop.max / 1e6,
    bad: bad.slice(0, 5).map((c) => ({
      i: c.i, connected: c.s.connected, last: c.last, gaps: c.gaps, dups: c.dups, odd: c.odd, reconnects: c.reconnects,
    })),
  });
  for (const c of clients) c.s.disconnect();
  setTimeout(() => process.exit(0), 200);
});
