// Recovery driver: the official socket.io-client (4.6+) against a gateway
// with connection state recovery, through a proxy that cuts the TCP
// connection now and then. Used by gateway/recovery_test.go.
//
//   node recovery.mjs <url> <count> <transports> [no-offsets]
//
// Counts "tick" events numbered 1..count, printing every reconnect
// ({"ev":"reconnected","recovered":bool,"id":...}) and at the end
// {"ev":"ticks","got":[...numbers in arrival order]}.
import { io } from "socket.io-client";

const [url, countArg, transportList, offsetsArg] = process.argv.slice(2);
const wantOffsets = offsetsArg !== "no-offsets";
const count = Number(countArg);
const transports = transportList ? transportList.split(",") : undefined;
const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
setTimeout(() => {
  out("ticks", { got });
  out("done");
  process.exit(0);
}, 60_000);

const got = [];
const s = io(url, {
  reconnectionDelay: 50,
  reconnectionDelayMax: 300,
  randomizationFactor: 0,
  timeout: 5_000,
  ...(transports ? { transports } : {}),
});
let first = true;
s.on("connect", () => {
  if (first) {
    first = false;
    out("connected", { id: s.id });
    s.emit("ready");
    return;
  }
  out("reconnected", { recovered: s.recovered, id: s.id });
});
// The server emits "end" over and over once the stream is over: a client
// that lost the last ticks (recovery off) stops on it.
let ended = false;
s.on("end", () => {
  if (ended) return;
  ended = true;
  out("ticks", { got });
  out("done");
  setTimeout(() => process.exit(0), 100);
});
s.on("tick", (n, offset) => {
  if (wantOffsets && typeof offset !== "string") fail(`tick ${n} without an offset`);
  got.push(n);
  if (n === count && !ended) {
    ended = true;
    out("ticks", { got });
    out("done");
    setTimeout(() => process.exit(0), 100);
  }
});
