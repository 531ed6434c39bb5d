// Recovery across a cluster: the official socket.io-client connects
// through the load balancer and counts the demo chat's messages "1".."N"
// in the lobby while the test kills the node that holds it.
//
//   node recovery-lb.mjs <url> <count>
//
// Prints {"ev":"connected","id":...}, {"ev":"reconnected","recovered":...,
// "id":...} on every reconnection, and at the end {"ev":"chats","got":[...]}
// (the numbers in arrival order) then {"ev":"done"}.
import { io } from "socket.io-client";

const [url, countArg] = process.argv.slice(2);
const count = Number(countArg);
const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);

const got = [];
let ended = false;
const end = () => {
  if (ended) return;
  ended = true;
  out("chats", { got });
  out("done");
  setTimeout(() => process.exit(0), 100);
};
setTimeout(end, 80_000);

const s = io(url, {
  transports: ["websocket"],
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
  randomizationFactor: 0,
  timeout: 3_000,
});
let first = true;
s.on("connect", () => {
  if (first) {
    first = false;
    out("connected", { id: s.id });
  } else {
    out("reconnected", { recovered: s.recovered, id: s.id });
  }
});
s.on("disconnect", (reason) => out("disconnected", { reason }));
s.on("chat", (msg) => {
  if (msg.text === "end") return end();
  got.push(Number(msg.text));
  if (got.length >= count && Number(msg.text) === count) end();
});
