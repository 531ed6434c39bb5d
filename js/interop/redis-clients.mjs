// Redis interop client driver: many official socket.io-client sockets in
// one process, driven by JSON commands on stdin.
//
//   node redis-clients.mjs
//
// Commands (one JSON object per line):
//   {"cmd":"connect","name":N,"url":U,"nsp":"/chat","auth":{...}}
//       → {"ev":"connect","name":N,"id":sid} or {"ev":"connect_error",...}
//   {"cmd":"emit","name":N,"id":I,"ev":E,"args":[...]}
//       → emits with an ack callback → {"ev":"ack","name":N,"id":I,"args":[...]}
//   {"cmd":"close","name":N}  → disconnects the socket
// Every event the server sends is printed as
//   {"ev":"event","name":N,"event":E,"args":[...]}
// with binary as {"$bin":"Buffer","hex":"..."}; when the server asks for
// an ack it is answered with {"from": N, "event": E, "bin": Buffer(N)}. A disconnect prints
// {"ev":"disconnect","name":N,"reason":R}.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
setTimeout(() => fail("redis-clients: lifetime exceeded"), 170_000).unref();
process.stdin.on("end", () => process.exit(0));

const describe = (v) => {
  if (Buffer.isBuffer(v)) return { $bin: "Buffer", hex: v.toString("hex") };
  if (v instanceof ArrayBuffer) return { $bin: "ArrayBuffer", hex: Buffer.from(v).toString("hex") };
  if (ArrayBuffer.isView(v)) {
    return { $bin: v.constructor.name, hex: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex") };
  }
  if (Array.isArray(v)) return v.map(describe);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, describe(x)]));
  return v;
};

const sockets = new Map();

const commands = {
  connect(c) {
    const s = io(c.url + (c.nsp && c.nsp !== "/" ? c.nsp : ""), {
      forceNew: true,
      reconnection: false,
      timeout: 10_000,
      transports: ["websocket"],
      auth: c.auth || { name: c.name },
    });
    sockets.set(c.name, s);
    s.on("connect", () => out("connect", { name: c.name, id: s.id }));
    s.on("connect_error", (err) => out("connect_error", { name: c.name, message: err.message }));
    s.on("disconnect", (reason) => out("disconnect", { name: c.name, reason }));
    s.onAny((event, ...args) => {
      const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
      out("event", { name: c.name, event, args: describe(args), withAck: !!cb });
      if (cb) cb({ from: c.name, event, bin: Buffer.from(c.name) });
    });
  },
  emit(c) {
    const s = sockets.get(c.name);
    if (!s) return out("ack", { name: c.name, id: c.id, error: "no such client" });
    s.timeout(5000).emit(c.ev, ...(c.args || []), (err, ...args) =>
      out("ack", { name: c.name, id: c.id, error: err ? String(err.message) : null, args: describe(args) }),
    );
  },
  close(c) {
    const s = sockets.get(c.name);
    if (s) s.disconnect();
  },
};

createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  try {
    const c = JSON.parse(line);
    const run = commands[c.cmd];
    if (!run) throw new Error(`unknown command ${c.cmd}`);
    run(c);
  } catch (err) {
    fail(err);
  }
});
out("ready");
