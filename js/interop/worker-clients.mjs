// Worker-forwarding test clients, driven by
// gateway/cmd/gateway/workers_test.go: socket.io-client sockets spread
// over the gateway nodes send "job" events with acks, which the nodes
// forward to workers; each ack must come back to the socket that sent it.
//
//   node worker-clients.mjs <urls,comma-separated> <clients> <events per client> <window> <ack timeout ms> [event]
//
// Each event is emitWithAck(event, {c, n, bin: <8 bytes>}); at most
// <window> per client wait for their ack at once. The last stdout line is
// one JSON object:
//   {"acked": N, "wrong": N, "codes": {code: count}, "ids": {"c:n": "event id"},
//    "errors": ["first few problems"], "ms": elapsed}
// "wrong" counts acks that came back to another socket, or with another
// payload; "codes" counts error answers by their data.code.
import { io } from "socket.io-client";

const [urlList, clientsArg, eventsArg, windowArg, timeoutArg, eventArg] = process.argv.slice(2);
if (!urlList || !clientsArg || !eventsArg) {
  console.error("usage: node worker-clients.mjs <urls> <clients> <events> <window> <timeout ms> [event]");
  process.exit(2);
}
const urls = urlList.split(",");
const clients = Number(clientsArg);
const events = Number(eventsArg);
const windowSize = Number(windowArg || 20);
const timeout = Number(timeoutArg || 30000);
const eventName = eventArg || "job";
setTimeout(() => { console.error("worker-clients: 170s limit reached"); process.exit(1); }, 170_000).unref();

const result = { acked: 0, wrong: 0, codes: {}, ids: {}, errors: [], ms: 0 };
const problem = (msg) => { if (result.errors.length < 20) result.errors.push(msg); };

function connect(i) {
  return new Promise((resolve, reject) => {
    const s = io(urls[i % urls.length], { transports: ["websocket"], reconnection: false, timeout: 20_000 });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (err) => reject(new Error(`client ${i}: connect_error ${err.message}`)));
    s.on("error", (body) => { // refusals of events sent without an ack
      const code = body && body.data && body.data.code;
      result.codes[code || "error-event"] = (result.codes[code || "error-event"] || 0) + 1;
    });
  });
}

async function run(s, c) {
  let next = 0;
  const one = async () => {
    while (next < events) {
      const n = next++;
      let res;
      try {
        res = await s.timeout(timeout).emitWithAck(eventName, { c, n, bin: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]) });
      } catch (err) {
        result.codes["client-timeout"] = (result.codes["client-timeout"] || 0) + 1;
        problem(`c${c} n${n}: ${err.message}`);
        continue;
      }
      if (res && res.message && res.data && res.data.code) {
        result.codes[res.data.code] = (result.codes[res.data.code] || 0) + 1;
        if (result.codes[res.data.code] <= 3) problem(`c${c} n${n}: ${res.data.code}: ${res.message}`);
        continue;
      }
      const ok = res && res.sid === s.id && res.echo && res.echo.c === c && res.echo.n === n && res.bytes === 8;
      if (!ok) {
        result.wrong++;
        problem(`c${c} n${n} (sid ${s.id}): wrong ack ${JSON.stringify(res)}`);
        continue;
      }
      result.acked++;
      result.ids[`${c}:${n}`] = res.id;
    }
  };
  await Promise.all(Array.from({ length: windowSize }, one));
}

const start = Date.now();
const sockets = await Promise.all(Array.from({ length: clients }, (_, i) => connect(i)));
console.log(JSON.stringify({ connected: sockets.length }));
await Promise.all(sockets.map((s, c) => run(s, c)));
result.ms = Date.now() - start;
for (const s of sockets) s.disconnect();
// Exit once the (large) line is written: a pipe's stdout is asynchronous.
process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
