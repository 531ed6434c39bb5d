// Interop driver for the msgpack parser: the official socket.io-client with
// socket.io-msgpack-parser against a siogate gateway configured with
// msgpackparser.Parser.
//
//   node msgpack-client.mjs <url> <transports>
//
// transports is a comma-separated list ("websocket", "polling" or both).
// Every observation is printed as one JSON line {"ev": name, ...}; the Go
// test (gateway/msgpack_interop_test.go) reads them and asserts on both
// sides. A failure prints {"ev":"error","message":...} and exits with 1.
import { io } from "socket.io-client";
import parser from "socket.io-msgpack-parser";

const [url, transportList] = process.argv.slice(2);
if (!url || !transportList) {
  console.error("usage: node msgpack-client.mjs <url> <transports>");
  process.exit(2);
}
const transports = transportList.split(",");

const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
const deadline = setTimeout(() => fail("scenario timed out"), 25_000);

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

const base = { parser, transports, reconnection: false, timeout: 10_000 };

// connected resolves on "connect" and rejects on "connect_error".
const connected = (s) =>
  new Promise((resolve, reject) => {
    if (s.connected) return resolve();
    s.once("connect", resolve);
    s.once("connect_error", (err) => reject(new Error("connect_error: " + err.message)));
  });

// ack emits with a callback and resolves with every acknowledgement arg.
const ack = (s, ev, ...args) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no acknowledgement for " + ev)), 5_000);
    s.emit(ev, ...args, (...res) => {
      clearTimeout(t);
      resolve(res);
    });
  });

// once resolves with the args of the next ev.
const once = (s, ev) => new Promise((resolve) => s.once(ev, (...args) => resolve(args)));

const a = io(url, { ...base, auth: { token: "secret", n: 5, pi: 3.25 } });
const welcome = once(a, "welcome");
a.on("question", (...args) => {
  const cb = args.pop();
  out("question", { args: describe(args) });
  cb("answer", 99, Buffer.from([5, 6]), { nested: [Buffer.from("xyz")] });
});
await connected(a);
out("connected", { id: a.id, transport: a.io.engine.transport.name });
out("welcome", { args: describe(await welcome) });

// Client to server, with an acknowledgement: many args, binary nested.
const echoed = await ack(a, "echo", "text", 42, -7, 1.5, true, null,
  { nested: { arr: [1, "two", Buffer.from([1, 2, 3])] } }, Buffer.from([0xde, 0xad]));
out("echo-ack", { args: describe(echoed) });

// Server to client with an acknowledgement: the server calls "question"
// while handling "ask", and answers "ask" with what the client replied.
out("ask-ack", { args: describe(await ack(a, "ask")) });

// A custom namespace over the same connection.
const chat = io(url + "/chat", { ...base, auth: { room: "x" } });
await connected(chat);
out("chat-ack", { args: describe(await ack(chat, "hello", "from chat", Buffer.from([0xca, 0xfe]))) });

// A refused namespace: connect_error with data.
const priv = io(url + "/private", base);
const refused = await new Promise((resolve) => priv.once("connect_error", resolve));
out("connect-error", { message: refused.message, data: describe(refused.data) });

// A room broadcast reaching two connections.
const b = io(url, { ...base, forceNew: true, auth: { token: "secret" } });
await connected(b);
await ack(a, "join", "r1");
await ack(b, "join", "r1");
const newsA = once(a, "news");
const newsB = once(b, "news");
await ack(a, "shout", "r1");
out("news", { a: describe(await newsA), b: describe(await newsB) });

chat.disconnect();
b.disconnect();
a.disconnect();
clearTimeout(deadline);
out("done");
setTimeout(() => process.exit(0), 200);
