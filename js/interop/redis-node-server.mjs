// Redis interop peer: a Node socket.io server in a Redis-adapter cluster.
//
//   node redis-node-server.mjs <redis-url> <key-prefix> [port]
//
// It listens on 127.0.0.1:<port> (0 or absent: any free port), uses
// createAdapter from @socket.io/redis-adapter with the given key, and
// serves the namespaces "/" and "/chat" (created at start so both are
// cluster members). Everything it observes is printed as one JSON line
// {"ev": ..., ...}; binary values are shown as {"$bin": "...", "hex": "..."}.
//
// Client contract (any namespace):
//   auth {name}                 socket.data = {origin: "node", name}
//   "join" (room, cb)           socket.join(room); cb("joined", room)
//   "leave" (room, cb)          socket.leave(room); cb("left", room)
// Server-side events "sse", "sse-ack", "emitter-sse" (from other servers or
// emitters) are printed as {"ev":"server-event", nsp, name, args, withAck};
// one that asks for an ack is answered with {from: "node", name, args}.
//
// Commands, one JSON object per stdin line {id, cmd, nsp = "/", to, except, ...};
// each is answered by {"ev":"result","id":...,"ok":true,...} or
// {"ev":"result","id":...,"ok":false,"error":...}:
//   (in args, {"$bin": hex}, {"$date": ms}, {"$num": "NaN"}, {"$undef": true}
//   stand for a Buffer, a Date, a non-finite number and undefined)
//   emit {ev, args}                    io.of(nsp).to(to).except(except).emit(ev, ...args)
//   emitWithAck {ev, args, timeout}    ...timeout(t).emitWithAck(ev, ...args) → {responses}
//   fetchSockets {}                    ...fetchSockets() → {sockets: [{id, rooms, data, handshake}]}
//   socketsJoin {rooms} / socketsLeave {rooms}
//   disconnectSockets {close}
//   serverSideEmit {ev, args}
//   serverSideEmitCb {ev, args}        io.of(nsp).serverSideEmit(ev, ...args, cb) → {err, responses}
//   serverSideEmitWithAck {ev, args}   await io.of(nsp).serverSideEmitWithAck(ev, ...args)
//   serverCount {}                     io.of(nsp).adapter.serverCount() → {count}
//   rooms {sid}                        rooms of a local socket → {rooms}
//   allRooms {}                        io.of(nsp).adapter.allRooms() → {rooms}
//   uid {}                             the namespace adapter's uid → {uid}
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

const [redisURL, key, portArg] = process.argv.slice(2);
if (!redisURL || !key) {
  console.error("usage: node redis-node-server.mjs <redis-url> <key-prefix> [port]");
  process.exit(2);
}

const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
// Never outlive the test that started us.
setTimeout(() => fail("redis-node-server: lifetime exceeded"), 170_000).unref();
process.stdin.on("end", () => process.exit(0));

const describe = (v) => {
  if (Buffer.isBuffer(v)) return { $bin: "Buffer", hex: v.toString("hex") };
  if (v instanceof ArrayBuffer) return { $bin: "ArrayBuffer", hex: Buffer.from(v).toString("hex") };
  if (ArrayBuffer.isView(v)) {
    return { $bin: v.constructor.name, hex: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex") };
  }
  if (v instanceof Set) return [...v].map(describe);
  if (Array.isArray(v)) return v.map(describe);
  if (typeof v === "function") return { $fn: true };
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, describe(x)]));
  return v;
};
// revive turns {"$bin": "<hex>"} into a Buffer, {"$date": ms} into a
// Date, {"$num": "NaN" | "Infinity" | "-Infinity"} into that number and
// {"$undef": true} into undefined: values JSON cannot carry.
const revive = (v) => {
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === "object") {
    const only = Object.keys(v).length === 1;
    if (typeof v.$bin === "string" && only) return Buffer.from(v.$bin, "hex");
    if (typeof v.$date === "number" && only) return new Date(v.$date);
    if (typeof v.$num === "string" && only) return Number(v.$num);
    if (v.$undef === true && only) return undefined;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
  }
  return v;
};

const pub = createClient({ url: redisURL, socket: { connectTimeout: 5000, reconnectStrategy: false } });
const sub = pub.duplicate();
pub.on("error", fail);
sub.on("error", fail);
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, { cors: { origin: "*" } });
io.adapter(createAdapter(pub, sub, { key, requestsTimeout: 3000 }));

const NAMESPACES = ["/", "/chat"];
const SERVER_EVENTS = ["sse", "sse-ack", "emitter-sse"];
for (const name of NAMESPACES) {
  const nsp = io.of(name);
  nsp.on("connection", (socket) => {
    socket.data = { origin: "node", name: socket.handshake.auth && socket.handshake.auth.name };
    out("connection", { nsp: name, id: socket.id, name: socket.data.name });
    socket.on("join", (room, cb) => {
      socket.join(room);
      if (typeof cb === "function") cb("joined", room);
    });
    socket.on("leave", (room, cb) => {
      socket.leave(room);
      if (typeof cb === "function") cb("left", room);
    });
    socket.on("disconnect", (reason) => out("disconnect", { nsp: name, id: socket.id, reason }));
  });
  // Server-side events from other servers (and emitters) are events of
  // the namespace object itself.
  for (const ev of SERVER_EVENTS) {
    nsp.on(ev, (...args) => {
      const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
      out("server-event", { nsp: name, name: ev, args: describe(args), withAck: !!cb });
      if (cb) cb({ from: "node", name: ev, args });
    });
  }
}

const select = (c) => {
  let op = io.of(c.nsp || "/");
  if (c.to !== undefined) op = op.to(c.to);
  if (c.except !== undefined) op = op.except(c.except);
  return op;
};

const commands = {
  async emit(c) {
    select(c).emit(c.ev, ...revive(c.args || []));
    return {};
  },
  async emitWithAck(c) {
    try {
      const responses = await select(c).timeout(c.timeout || 3000).emitWithAck(c.ev, ...revive(c.args || []));
      return { responses: describe(responses) };
    } catch (err) {
      return { timedOut: true, message: String(err && err.message), responses: describe(err.responses || []) };
    }
  },
  async fetchSockets(c) {
    const sockets = await select(c).fetchSockets();
    return {
      sockets: sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: describe(s.data), handshake: describe(s.handshake) })),
    };
  },
  async socketsJoin(c) {
    select(c).socketsJoin(c.rooms);
    return {};
  },
  async socketsLeave(c) {
    select(c).socketsLeave(c.rooms);
    return {};
  },
  async disconnectSockets(c) {
    select(c).disconnectSockets(!!c.close);
    return {};
  },
  async serverSideEmit(c) {
    io.of(c.nsp || "/").serverSideEmit(c.ev, ...revive(c.args || []));
    return {};
  },
  async serverSideEmitCb(c) {
    return await new Promise((resolve) => {
      io.of(c.nsp || "/").serverSideEmit(c.ev, ...revive(c.args || []), (err, responses) =>
        resolve({ err: err ? String(err.message) : null, responses: describe(responses) }),
      );
    });
  },
  async serverSideEmitWithAck(c) {
    try {
      const responses = await io.of(c.nsp || "/").serverSideEmitWithAck(c.ev, ...revive(c.args || []));
      return { responses: describe(responses) };
    } catch (err) {
      return { err: String(err.message), responses: describe(err.responses || []) };
    }
  },
  async serverCount(c) {
    return { count: await io.of(c.nsp || "/").adapter.serverCount() };
  },
  async rooms(c) {
    const s = io.of(c.nsp || "/").sockets.get(c.sid);
    return s ? { rooms: [...s.rooms] } : { missing: true };
  },
  async allRooms(c) {
    return { rooms: [...(await io.of(c.nsp || "/").adapter.allRooms())] };
  },
  async uid(c) {
    return { uid: io.of(c.nsp || "/").adapter.uid };
  },
};

createInterface({ input: process.stdin }).on("line", async (line) => {
  if (!line.trim()) return;
  let c;
  try {
    c = JSON.parse(line);
  } catch (err) {
    return out("result", { ok: false, error: "bad command: " + err.message });
  }
  const run = commands[c.cmd];
  if (!run) return out("result", { id: c.id, ok: false, error: `unknown command ${c.cmd}` });
  try {
    out("result", { id: c.id, ok: true, ...(await run(c)) });
  } catch (err) {
    out("result", { id: c.id, ok: false, error: String(err && err.stack ? err.stack : err) });
  }
});

httpServer.listen(Number(portArg || 0), "127.0.0.1", () => {
  out("listening", { port: httpServer.address().port, uid: io.of("/").adapter.uid });
});
