// Redis interop peer: @socket.io/redis-emitter publishing one operation.
//
//   node redis-emitter.mjs <redis-url> <key-prefix> '<json op>'
//
// op: {"nsp":"/chat", "to":[rooms], "except":[rooms], "volatile":bool,
//      "action": "emit" | "socketsJoin" | "socketsLeave" | "disconnectSockets" | "serverSideEmit",
//      "ev": name, "args": [...], "rooms": [...], "close": bool}
// {"$bin":"<hex>"} in args becomes a Buffer. Prints {"ev":"done"} once
// published, then exits.
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";

const [redisURL, key, opJSON] = process.argv.slice(2);
const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
if (!redisURL || !key || !opJSON) fail("usage: node redis-emitter.mjs <redis-url> <key-prefix> '<json op>'");
setTimeout(() => fail("redis-emitter: timed out"), 15_000).unref();

const revive = (v) => {
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === "object") {
    if (typeof v.$bin === "string" && Object.keys(v).length === 1) return Buffer.from(v.$bin, "hex");
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
  }
  return v;
};

const op = JSON.parse(opJSON);
const client = createClient({ url: redisURL, socket: { connectTimeout: 5000, reconnectStrategy: false } });
client.on("error", fail);
await client.connect();

let emitter = new Emitter(client, { key });
if (op.nsp && op.nsp !== "/") emitter = emitter.of(op.nsp);
let target = emitter;
if (op.to !== undefined) target = target.to(op.to);
if (op.except !== undefined) target = target.except(op.except);
if (op.volatile) target = target.volatile;

switch (op.action || "emit") {
  case "emit":
    target.emit(op.ev, ...revive(op.args || []));
    break;
  case "socketsJoin":
    target.socketsJoin(op.rooms);
    break;
  case "socketsLeave":
    target.socketsLeave(op.rooms);
    break;
  case "disconnectSockets":
    target.disconnectSockets(!!op.close);
    break;
  case "serverSideEmit":
    emitter.serverSideEmit(op.ev, ...revive(op.args || []));
    break;
  default:
    fail(`unknown action ${op.action}`);
}
// node-redis v4 sends commands in order: once a PING answers, every
// PUBLISH before it has been handled by Redis.
await client.ping();
await client.quit();
out("done");
