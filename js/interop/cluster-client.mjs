// Cluster test peer: one socket.io-client socket driven over stdin/stdout
// by gateway/cmd/gateway/cluster_test.go.
//
//   node cluster-client.mjs <url> <label> [transports] [silent]
//
// stdout, one JSON object a line:
//   {"ev":"connect","sid":...}            connected
//   {"ev":"event","name":...,"args":[...]} any event received
//   {"ev":"disconnect","reason":...}      disconnected
//   {"ev":"reply","id":N,"args":[...]}    the ack of command N
//   {"ev":"error","message":...}          a failure (then exit 1)
// stdin, one JSON object a line:
//   {"id":N,"event":"join","args":["room"]} emit with an ack callback
//   {"cmd":"quit"}                          disconnect and exit
//
// Acks asked by the server: "question" is answered {"from": sid, "label"}
// unless "silent" was given (then never); "ping-me" is answered with one
// array ["pong", label, ...args] (acks crossing nodes carry their first
// argument only, as with @socket.io/redis-adapter).
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, label, transportList, mode] = process.argv.slice(2);
if (!url || !label) {
  console.error("usage: node cluster-client.mjs <url> <label> [transports] [silent]");
  process.exit(2);
}
const silent = mode === "silent";
const transports = transportList && transportList !== "-" ? transportList.split(",") : undefined;

const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
// Never outlive a test that forgot us.
setTimeout(() => fail("cluster-client: 150s limit reached"), 150_000).unref();

const s = io(url, { reconnection: false, timeout: 10_000, ...(transports ? { transports } : {}) });
s.on("connect", () => out("connect", { sid: s.id }));
s.on("connect_error", (err) => fail("connect_error: " + err.message));
s.on("disconnect", (reason) => out("disconnect", { reason }));
s.onAny((name, ...args) => {
  const ack = args.length > 0 && typeof args[args.length - 1] === "function" ? args.pop() : null;
  out("event", { name, args });
  if (!ack) return;
  if (name === "question" && !silent) ack({ from: s.id, label });
  if (name === "ping-me") ack(["pong", label, ...args]);
});

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  if (msg.cmd === "quit") {
    s.disconnect();
    setTimeout(() => process.exit(0), 100);
    return;
  }
  s.emit(msg.event, ...(msg.args || []), (...args) => out("reply", { id: msg.id, args }));
});
// The test closed our stdin: it is done with us.
rl.on("close", () => {
  s.disconnect();
  setTimeout(() => process.exit(0), 100);
});
