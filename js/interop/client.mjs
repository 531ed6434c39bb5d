// Interop driver: the official socket.io-client against a siogate gateway.
//
//   node client.mjs <url> <scenario> [transports]
//
// transports is a comma-separated list ("websocket", "polling" or both);
// when absent the client's defaults apply (polling, then upgrade).
// Every observation is printed as one JSON line {"ev": name, ...}; the Go
// test (gateway/interop_test.go) reads them and asserts on both sides. A
// failure prints {"ev":"error","message":...} and exits with status 1.
import { io } from "socket.io-client";

const [url, scenario, transportList] = process.argv.slice(2);
if (!url || !scenario) {
  console.error("usage: node client.mjs <url> <scenario> [transports]");
  process.exit(2);
}
const transports = transportList ? transportList.split(",") : undefined;

const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
const deadline = setTimeout(() => fail(`scenario ${scenario} timed out`), 25_000);

// finish reports success and exits once pending writes (a DISCONNECT
// packet, say) had a moment to leave.
const finish = (delay = 200) => {
  clearTimeout(deadline);
  out("done");
  setTimeout(() => process.exit(0), delay);
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// describe turns received values into JSON that keeps binary visible:
// {"$bin": "Buffer" | "ArrayBuffer" | "Uint8Array", "hex": "..."}.
const describe = (v) => {
  if (Buffer.isBuffer(v)) return { $bin: "Buffer", hex: v.toString("hex") };
  if (v instanceof ArrayBuffer) return { $bin: "ArrayBuffer", hex: Buffer.from(v).toString("hex") };
  if (ArrayBuffer.isView(v)) {
    return { $bin: v.constructor.name, hex: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex") };
  }
  if (Array.isArray(v)) return v.map(describe);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, describe(x)]));
  }
  return v;
};

const opts = (extra = {}) => ({ reconnection: false, timeout: 10_000, ...(transports ? { transports } : {}), ...extra });

// connected resolves on "connect" and rejects on "connect_error".
const connected = (s) =>
  new Promise((resolve, reject) => {
    if (s.connected) return resolve();
    s.once("connect", resolve);
    s.once("connect_error", (err) => reject(new Error("connect_error: " + err.message)));
  });

const nextEvent = (s, name) => new Promise((resolve) => s.once(name, (...args) => resolve(args)));

// call emits with a callback and resolves with all the ack arguments.
const call = (s, ev, ...args) => new Promise((resolve) => s.emit(ev, ...args, (...ack) => resolve(ack)));

const transportOf = (s) => s.io.engine.transport.name;

// deflateSize is the length of the payload of the deflate scenarios; the
// Go test (gateway/deflate_interop_test.go) builds the same text.
const deflateSize = 20_000;
const deflatePayload = () => {
  const unit = '{"user":"someone","text":"the same words again"},';
  return unit.repeat(Math.ceil(deflateSize / unit.length)).slice(0, deflateSize);
};

// deflate asks the server for three copies of a repetitive payload ("big"
// from socket.emit, "plain" from a broadcast with compress(false), "bcast"
// from a broadcast), once on the websocket, then uploads it: the ws
// package compresses it when permessage-deflate was negotiated (it is
// above ws's 1024 byte threshold). The Go side reads the frames through a
// TCP proxy.
const deflate = async (offer) => {
  const s = io(url, opts({ perMessageDeflate: offer ? { threshold: 1024 } : false }));
  const engine = s.io.engine;
  const onWebSocket = () => engine.transport && engine.transport.name === "websocket";
  const upgraded = new Promise((resolve) => {
    if (onWebSocket()) return resolve();
    engine.once("upgrade", resolve);
    engine.once("open", () => onWebSocket() && resolve());
  });
  await connected(s);
  await upgraded;
  out("connect", { transport: transportOf(s) });
  const want = deflatePayload();
  const got = Promise.all([nextEvent(s, "big"), nextEvent(s, "plain"), nextEvent(s, "bcast")]);
  s.emit("compress-test", deflateSize);
  const [[big], [plain], [bcast]] = await got;
  out("received", { big: big === want, plain: plain === want, bcast: bcast === want });
  out("uploaded", { ack: await call(s, "upload", want) });
  s.disconnect();
  finish();
};

const scenarios = {
  // deflate, deflate-off: see deflate; -off offers no permessage-deflate.
  deflate: () => deflate(true),
  "deflate-off": () => deflate(false),

  // basic: connect, receive the welcome emitted by the connect handler,
  // an ack round trip, then leave.
  async basic() {
    const s = io(url, opts());
    const welcome = nextEvent(s, "welcome");
    await connected(s);
    out("connect", { id: s.id, transport: transportOf(s) });
    out("welcome", { args: await welcome });
    out("ack", { args: await call(s, "echo", "hello", 42, { a: [1, 2] }) });
    out("transport", { transport: transportOf(s) });
    s.disconnect();
    finish();
  },

  // upgrade: start on polling and wait for the switch to websocket.
  async upgrade() {
    const s = io(url, opts());
    const engine = s.io.engine;
    const upgraded = new Promise((resolve) => engine.once("upgrade", (t) => resolve(t.name)));
    // The handshake is what is sure to go over polling: the upgrade may
    // complete before "connect" fires.
    const handshake = new Promise((resolve) =>
      engine.once("handshake", (d) => resolve({ transport: engine.transport.name, upgrades: d.upgrades })),
    );
    await connected(s);
    out("connect", { handshake: await handshake });
    out("ack-before", { args: await call(s, "whoami") });
    out("upgrade", { transport: await upgraded });
    out("ack", { args: await call(s, "whoami"), transport: transportOf(s) });
    s.disconnect();
    finish();
  },

  // namespaces: /a and /b multiplexed over one Manager and one Engine.IO
  // connection.
  async namespaces() {
    const a = io(url + "/a", opts());
    const b = io(url + "/b", opts());
    const helloA = nextEvent(a, "hello");
    const helloB = nextEvent(b, "hello");
    await Promise.all([connected(a), connected(b)]);
    out("connected", { sharedManager: a.io === b.io, engineId: a.io.engine.id, nsps: Object.keys(a.io.nsps).sort() });
    out("hello", { a: await helloA, b: await helloB });
    out("which", { a: await call(a, "which"), b: await call(b, "which") });
    a.disconnect();
    await sleep(100);
    // /b still works after /a left.
    out("which-after", { b: await call(b, "which"), aConnected: a.connected, bConnected: b.connected });
    b.disconnect();
    finish();
  },

  // auth: the auth payload reaches the connect handler; a good token is
  // accepted on /private.
  async auth() {
    const s = io(url, opts({ auth: { token: "s3cret", user: "ana", n: 7 } }));
    await connected(s);
    out("auth-echo", { args: await call(s, "auth-echo") });
    const p = io(url + "/private", opts({ auth: { token: "s3cret" } }));
    await connected(p);
    out("private", { args: await call(p, "whoami-private") });
    s.disconnect();
    p.disconnect();
    finish();
  },

  // refused: namespace connections refused with a ConnectError, a plain
  // error, and an unknown namespace.
  async refused() {
    const results = {};
    const tryConnect = (name, nsp, auth) =>
      new Promise((resolve) => {
        const s = io(url + nsp, opts({ auth }));
        s.on("connect", () => {
          results[name] = { connected: true };
          s.disconnect();
          resolve();
        });
        s.on("connect_error", (err) => {
          results[name] = { message: err.message, data: err.data === undefined ? null : err.data, active: s.active };
          resolve();
        });
      });
    await Promise.all([
      tryConnect("private", "/private", { token: "wrong" }),
      tryConnect("plain", "/plain-refuse", {}),
      tryConnect("unknown", "/nope", {}),
    ]);
    out("refused", results);
    finish();
  },

  // binary: Buffers, Uint8Arrays and ArrayBuffers both ways, nested too.
  async binary() {
    const s = io(url, opts());
    const fromServer = nextEvent(s, "bin-from-server");
    await connected(s);
    const ack = await call(
      s,
      "bin",
      Buffer.from([1, 2, 3]),
      new Uint8Array([4, 5, 6]),
      { nested: { buf: Buffer.from("hi") }, list: [Buffer.from([0xff, 0x00]), "text", new Uint8Array([7]).buffer] },
      "plain",
    );
    out("bin-ack", { args: describe(ack) });
    out("bin-from-server", { args: describe(await fromServer) });
    // The server echoes the binary it got back as a server-initiated ack
    // request; answer with binary too.
    s.on("bin-call", (payload, cb) => {
      out("bin-call", { args: describe([payload]) });
      cb(Buffer.from("reply"), { inner: new Uint8Array([1, 2]) });
    });
    s.emit("start-bin-call");
    await nextEvent(s, "bin-call-done");
    s.disconnect();
    finish();
  },

  // acks: client→server acks with several values, and server→client
  // acks through Call and EmitWithCallback.
  async acks() {
    const s = io(url, opts());
    s.on("question", (a, b, cb) => {
      out("question", { a, b });
      cb("answer", a, b * 2, { ok: true });
    });
    s.on("question2", (x, cb) => cb(x + "!"));
    await connected(s);
    out("sum", { args: await call(s, "sum", 1, 2, 3) });
    out("sum-promise", { first: await s.emitWithAck("sum", 10, 20) });
    out("sum-timeout", { first: await s.timeout(5000).emitWithAck("sum", 5) });
    out("noargs", { args: await call(s, "noargs") });
    const done = nextEvent(s, "calls-done");
    s.emit("start-calls");
    out("calls-done", { args: await done });
    s.disconnect();
    finish();
  },

  // rooms: three clients; two join r1, a broadcast to r1 reaches those
  // two once each; a socket's To(r1) skips the sender.
  async rooms() {
    const clients = [0, 1, 2].map(() => io(url, opts({ forceNew: true })));
    const got = clients.map(() => ({ news: [], relay: [] }));
    clients.forEach((c, i) => {
      c.on("news", (...a) => got[i].news.push(a));
      c.on("relay", (...a) => got[i].relay.push(a));
    });
    await Promise.all(clients.map(connected));
    await call(clients[0], "join", "r1");
    await call(clients[1], "join", "r1");
    await call(clients[2], "join", "r2");
    out("joined", { ids: clients.map((c) => c.id) });
    await call(clients[2], "shout", "r1", "hello r1");
    await call(clients[0], "relay", "r1", "from c0");
    // A round trip on each connection: anything the server sent earlier
    // has arrived once its ack has.
    await Promise.all(clients.map((c) => call(c, "sync")));
    await sleep(100);
    out("rooms", { got });
    clients.forEach((c) => c.disconnect());
    finish();
  },

  // disconnect-client: socket.disconnect() from the client.
  async "disconnect-client"() {
    const s = io(url, opts());
    s.on("disconnect", (reason) => out("disconnect", { reason }));
    await connected(s);
    await call(s, "ready");
    s.disconnect();
    finish(500);
  },

  // disconnect-server: the server calls s.Disconnect(false).
  async "disconnect-server"() {
    const s = io(url, opts({ reconnection: true }));
    const gone = nextEvent(s, "disconnect");
    await connected(s);
    s.emit("kick-me");
    const [reason] = await gone;
    await sleep(300); // "io server disconnect" must not reconnect
    out("disconnect", { reason, connected: s.connected, active: s.active });
    s.close();
    finish();
  },

  // close-server: the server closes the whole connection.
  async "close-server"() {
    const s = io(url, opts());
    const gone = nextEvent(s, "disconnect");
    await connected(s);
    out("connect", { transport: transportOf(s) });
    s.emit("close-me");
    const [reason] = await gone;
    out("disconnect", { reason });
    finish();
  },

  // hang: connect and stay until killed.
  async hang() {
    const s = io(url, opts());
    await connected(s);
    await call(s, "ready");
    out("ready", { transport: transportOf(s) });
    clearTimeout(deadline);
    setInterval(() => {}, 1000);
  },

  // noack: the client receives events but never acknowledges them (or
  // too late); the server's Call must time out.
  async noack() {
    const s = io(url, opts());
    s.on("never", (...args) => {
      args.pop(); // the ack callback, never called
      out("never", { args });
    });
    s.on("slow", (x, cb) => setTimeout(() => cb("late " + x), 600));
    s.on("question", (x, cb) => cb("answer " + x));
    const done = nextEvent(s, "calls-done");
    await connected(s);
    s.emit("start-noack");
    out("calls-done", { args: await done });
    out("still-ok", { args: await call(s, "sum", 2, 2) });
    s.disconnect();
    finish();
  },
};

const run = scenarios[scenario];
if (!run) fail(`unknown scenario ${scenario}`);
else run().catch(fail);
