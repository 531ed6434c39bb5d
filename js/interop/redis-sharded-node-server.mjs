// Redis Cluster interop peer: a Node socket.io server on the sharded
// adapter of @socket.io/redis-adapter (createShardedAdapter: SSUBSCRIBE,
// SPUBLISH, PUBSUB SHARDNUMSUB) over a node-redis cluster client.
//
//   node redis-sharded-node-server.mjs <host:port,host:port,...> <channel-prefix> <subscriptionMode>
//
// It listens on 127.0.0.1 (a free port) and serves "/". Everything it
// observes is printed as one JSON line {"ev": ...}; the first is
// {"ev":"listening","port":P,"uid":U}.
//
// Client contract: auth {name} → socket.data = {origin: "node", name};
// "join" (room, cb) → socket.join(room); cb("joined", room).
//
// Commands, one JSON object per stdin line {id, cmd, to, except, ...},
// each answered by {"ev":"result","id":...,"ok":true|false,...}:
//   emit {ev, args}        io.to(to).except(except).emit(ev, ...args)
//   emitWithAck {ev, args} ...timeout(3000).emitWithAck → {responses}
//   fetchSockets {}        → {sockets: [{id, rooms}]}
//   serverCount {}         → {count}
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";
import { createShardedAdapter } from "@socket.io/redis-adapter";
import { createCluster } from "redis";

const [addrs, channelPrefix, subscriptionMode] = process.argv.slice(2);
if (!addrs || !channelPrefix || !subscriptionMode) {
  console.error("usage: node redis-sharded-node-server.mjs <host:port,...> <channel-prefix> <subscriptionMode>");
  process.exit(2);
}

const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
setTimeout(() => fail("redis-sharded-node-server: lifetime exceeded"), 170_000).unref();
process.stdin.on("end", () => process.exit(0));

const rootNodes = addrs.split(",").map((a) => ({ url: "redis://" + a }));
const pub = createCluster({ rootNodes });
const sub = pub.duplicate();
// A killed master shows up as errors until its replica takes over: logged,
// not fatal (the failover test expects them).
pub.on("error", (err) => out("redis-error", { message: String(err && err.message) }));
sub.on("error", (err) => out("redis-error", { message: String(err && err.message) }));
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, { cors: { origin: "*" } });
io.adapter(createShardedAdapter(pub, sub, { channelPrefix, subscriptionMode }));

io.on("connection", (socket) => {
  socket.data = { origin: "node", name: socket.handshake.auth && socket.handshake.auth.name };
  out("connection", { id: socket.id, name: socket.data.name });
  socket.on("join", (room, cb) => {
    socket.join(room);
    if (typeof cb === "function") cb("joined", room);
  });
});

const select = (c) => {
  let op = io.of("/");
  if (c.to !== undefined) op = op.to(c.to);
  if (c.except !== undefined) op = op.except(c.except);
  return op;
};

const commands = {
  async emit(c) {
    select(c).emit(c.ev, ...(c.args || []));
    return {};
  },
  async emitWithAck(c) {
    try {
      return { responses: await select(c).timeout(3000).emitWithAck(c.ev, ...(c.args || [])) };
    } catch (err) {
      return { timedOut: true, message: String(err && err.message), responses: err.responses || [] };
    }
  },
  async fetchSockets(c) {
    const sockets = await select(c).fetchSockets();
    return { sockets: sockets.map((s) => ({ id: s.id, rooms: [...s.rooms] })) };
  },
  async serverCount() {
    return { count: await io.of("/").adapter.serverCount() };
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

httpServer.listen(0, "127.0.0.1", () => {
  out("listening", { port: httpServer.address().port, uid: io.of("/").adapter.uid });
});
