// Node's side of TestRecoveryStoreNodeInterop: a socket.io server with
// @socket.io/redis-streams-adapter and connection state recovery, on the
// stream and session prefix the Go test gives.
//
//   node streams_interop.js <stream> <session prefix> <offset>
//
// The server listens on a port the system picks (no other process can
// take it between a pick and the listen).
//
// A: a client presents the session "pidA" and the offset siogate wrote;
// the result (recovered, id, rooms, data, missed events) is printed as a
// JSON line {"a": …}.
// B: another client connects, joins "roomB", receives an event, and its
// transport is cut (Node keeps the session); more events are broadcast.
// Its pid, offset and id are printed as {"b": …} for siogate to recover.
const http = require("http");
const { createClient } = require("redis");
const { Server } = require("socket.io");
const { io: ioc } = require("socket.io-client");
const { createAdapter } = require("@socket.io/redis-streams-adapter");

const [stream, prefix, offset] = process.argv.slice(2);
const until = (what, check) =>
  new Promise((resolve, reject) => {
    const deadline = Date.now() + 30000; // a loaded machine
    const poll = () => {
      if (check()) return resolve();
      if (Date.now() > deadline) return reject(new Error("timed out waiting until " + what));
      setTimeout(poll, 20);
    };
    poll();
  });
const plain = (x) => (Buffer.isBuffer(x) ? { buffer: [...x] } : x);

async function main() {
  const redis = createClient({ url: "redis://127.0.0.1:6379" });
  await redis.connect();
  const io = new Server({
    adapter: createAdapter(redis, { streamName: stream, sessionKeyPrefix: prefix }),
    connectionStateRecovery: { maxDisconnectionDuration: 60000, skipMiddlewares: true },
  });
  const httpServer = http.createServer();
  io.attach(httpServer);
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const port = httpServer.address().port;

  // A
  const got = [];
  const a = ioc(`http://127.0.0.1:${port}`, { autoConnect: false, transports: ["websocket"] });
  a._pid = "pidA";
  a._lastOffset = offset;
  a.onAny((...args) => got.push(args.map(plain)));
  a.connect();
  await until("A connects", () => a.connected);
  const sa = io.sockets.sockets.get(a.id);
  await until("A's missed events", () => got.length >= 3);
  console.log(JSON.stringify({ a: { recovered: a.recovered, id: a.id, rooms: [...sa.rooms], data: sa.data, missed: got } }));
  a.disconnect();

  // B
  const firsts = [];
  const b = ioc(`http://127.0.0.1:${port}`, { transports: ["websocket"] });
  b.on("first", (...args) => firsts.push(args));
  await until("B connects", () => b.connected);
  const sb = io.sockets.sockets.get(b.id);
  sb.join("roomB");
  sb.data = { user: "bob" };
  io.emit("first", 1);
  await until("B's first event", () => firsts.length === 1);
  const out = { pid: b._pid, offset: b._lastOffset, id: b.id };
  b.io.engine.close(); // a transport close: Node keeps the session
  await until("B's session is saved", () => false === io.sockets.sockets.has(out.id));
  io.emit("missed text", { a: 1 });
  io.to("roomB").emit("missed bin", Buffer.from([9, 8, 7]));
  io.to("nobody").emit("not for b");
  io.except("roomB").emit("not for b either");
  io.volatile.emit("volatile");
  io.emit("last");
  console.log(JSON.stringify({ b: out }));
  b.close();
  io.close();
  await redis.quit();
}
main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
