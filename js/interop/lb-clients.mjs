// Connects N socket.io clients through a load balancer to siogate nodes
// running the demo handlers, and checks that a chat message from one
// reaches all of them.
//
//   node lb-clients.mjs <url> <count> <transports: polling|websocket|both>
//
// Prints JSON lines: {"ready":n} once every client is connected and in the
// lobby, then waits for a line on stdin, sends one chat message and prints
// {"received":n,"errors":[...]} when every client got it (or after 15 s).
import { io } from "socket.io-client";
import readline from "node:readline";

const [url, countArg, mode] = process.argv.slice(2);
const count = Number(countArg);
const transports = mode === "both" ? ["polling", "websocket"] : [mode];
const errors = [];
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const deadline = setTimeout(() => { out({ error: "timeout", errors }); process.exit(2); }, 30000);

const clients = [];
let joined = 0;
let received = 0;
const ready = new Promise((resolve) => {
  for (let i = 0; i < count; i++) {
    const s = io(url, { transports, forceNew: true, reconnection: false, upgrade: mode === "both" });
    s.on("connect_error", (e) => errors.push("connect_error: " + e.message));
    s.on("disconnect", (reason) => { if (reason !== "io client disconnect") errors.push("disconnect: " + reason); });
    s.on("joined", () => { if (++joined === count) resolve(); });
    s.on("chat", (m) => {
      if (m.text === "hello through the balancer" && ++received === count) {
        out({ received, errors });
        for (const c of clients) c.disconnect();
        clearTimeout(deadline);
        setTimeout(() => process.exit(0), 100);
      }
    });
    clients.push(s);
  }
});
await ready;
out({ ready: joined, transports: clients.map((c) => c.io.engine.transport.name) });
const rl = readline.createInterface({ input: process.stdin });
rl.once("line", () => {
  clients[0].emit("chat", "hello through the balancer");
});
