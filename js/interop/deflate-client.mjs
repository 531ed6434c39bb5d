// permessage-deflate driver: socket.io-client (engine.io-client over the
// ws package, which offers permessage-deflate by default) against a
// siogate gateway, through the Go test's TCP proxy that reads the frames.
//
//   node deflate-client.mjs <url> <transports> <deflate: on|off> <size>
//
// It asks the server for three copies of a repetitive payload of <size>
// characters ("big" from socket.emit, "plain" from a broadcast with
// compress(false), "bcast" from a broadcast), checks them, then uploads
// the payload (ws compresses it: it is above ws's 1024 byte threshold) and
// prints what the server's ack says. One JSON line per observation, as
// client.mjs does.
import { io } from "socket.io-client";

const [url, transportList, deflate, size] = process.argv.slice(2);
if (!url || !transportList || !deflate || !size) {
  console.error("usage: node deflate-client.mjs <url> <transports> <on|off> <size>");
  process.exit(2);
}

const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
const deadline = setTimeout(() => fail("deflate scenario timed out"), 25_000);

// payload is the text the Go side builds the same way.
const payload = (n) => {
  const unit = '{"user":"someone","text":"the same words again"},';
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
};
const want = payload(Number(size));

const s = io(url, {
  reconnection: false,
  timeout: 10_000,
  transports: transportList.split(","),
  perMessageDeflate: deflate === "on" ? { threshold: 1024 } : false,
});
const next = (name) => new Promise((resolve) => s.once(name, resolve));

const engine = s.io.engine;
const onWebSocket = () => engine.transport && engine.transport.name === "websocket";
const upgraded = new Promise((resolve) => {
  if (onWebSocket()) return resolve();
  engine.once("upgrade", resolve);
  engine.once("open", () => onWebSocket() && resolve());
});

await new Promise((resolve, reject) => {
  s.once("connect", resolve);
  s.once("connect_error", (err) => reject(new Error("connect_error: " + err.message)));
});
await upgraded; // the payloads must travel over the WebSocket
out("connect", { transport: s.io.engine.transport.name });

const got = Promise.all([next("big"), next("plain"), next("bcast")]);
s.emit("compress-test", Number(size));
const [big, plain, bcast] = await got;
out("received", { big: big === want, plain: plain === want, bcast: bcast === want });

const ack = await new Promise((resolve) => s.emit("upload", want, (...args) => resolve(args)));
out("uploaded", { ack });

s.disconnect();
clearTimeout(deadline);
out("done");
setTimeout(() => process.exit(0), 200);
