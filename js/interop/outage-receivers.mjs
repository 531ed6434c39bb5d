// Receivers of the broker-outage tests (gateway/cmd/gateway
// outage_cluster_test.go): the official socket.io-client connects one
// socket to each url, gateway nodes running the demo chat (every socket is
// in the lobby), and reports every chat message it gets, so that the test
// can check that a numbered stream broadcast from a node arrives exactly
// once and in order across a broker outage.
//
//   node outage-receivers.mjs <url>...
//
// Prints {"ev":"connected","i":k,"id":...} and {"ev":"joined","i":k,...}
// (the demo put it in the lobby) for each socket,
// {"ev":"chat","i":k,"text":...} for each message, and
// {"ev":"disconnected","i":k,"reason":...} should a socket drop. Exits when
// stdin closes.
import { io } from "socket.io-client";

const urls = process.argv.slice(2);
const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);

const sockets = [];
urls.forEach((url, i) => {
  const s = io(url, { transports: ["websocket"], reconnection: false, forceNew: true, timeout: 5_000 });
  s.on("connect", () => out("connected", { i, id: s.id }));
  s.on("joined", (room) => out("joined", { i, room }));
  s.on("connect_error", (err) => out("error", { i, message: "connect_error: " + err.message }));
  s.on("disconnect", (reason) => out("disconnected", { i, reason }));
  s.on("chat", (msg) => out("chat", { i, text: msg.text }));
  sockets.push(s);
});
process.stdin.resume();
process.stdin.on("end", () => {
  for (const s of sockets) s.close();
  setTimeout(() => process.exit(0), 50);
});
