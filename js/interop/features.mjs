// Feature driver: the official socket.io-client against the features of a
// siogate gateway that Node's server also has (middlewares, dynamic
// namespaces, disconnect semantics). Used by gateway/features_test.go.
//
//   node features.mjs <url> <scenario> [transports]
//
// Every observation is one JSON line {"ev": name, ...}; a failure prints
// {"ev":"error","message":...} and exits with status 1.
import { io } from "socket.io-client";

const [url, scenario, transportList] = process.argv.slice(2);
const transports = transportList ? transportList.split(",") : undefined;
const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
const deadline = setTimeout(() => fail(`scenario ${scenario} timed out`), 25_000);
const finish = () => {
  clearTimeout(deadline);
  out("done");
  setTimeout(() => process.exit(0), 200);
};
const opts = (extra = {}) => ({ reconnection: false, timeout: 10_000, ...(transports ? { transports } : {}), ...extra });

// outcome resolves with "connect" or the connect_error's message and data.
const outcome = (s) =>
  new Promise((resolve) => {
    s.once("connect", () => resolve({ ok: true }));
    s.once("connect_error", (err) => resolve({ ok: false, message: err.message, data: err.data }));
  });
const nextEvent = (s, name) => new Promise((resolve) => s.once(name, (...args) => resolve(args)));
const call = (s, ev, ...args) => new Promise((resolve) => s.emit(ev, ...args, (...ack) => resolve(ack)));
// callTimeout resolves with {err} when no ack comes within ms.
const callTimeout = (s, ms, ev, ...args) =>
  new Promise((resolve) =>
    s.timeout(ms).emit(ev, ...args, (err, ...ack) => resolve(err ? { err: err.message } : { ack })),
  );

const scenarios = {
  // middleware: a connect middleware refuses, then accepts; an event
  // middleware rejects one event, with and without an ack.
  async middleware() {
    const bad = io(url + "/guarded", opts({ auth: { token: "bad" } }));
    out("refused", await outcome(bad));
    bad.close();
    const s = io(url + "/guarded", opts({ auth: { token: "good" }, forceNew: true }));
    const mw = nextEvent(s, "mw");
    out("accepted", await outcome(s));
    out("mw", { args: await mw });
    out("blocked-ack", { args: await call(s, "blocked", 1) });
    const errEv = nextEvent(s, "error");
    s.emit("blocked", 2);
    out("blocked-event", { args: await errEv });
    out("fine-ack", { args: await call(s, "fine", 3) });
    s.close();
    finish();
  },

  // dynamic: two children of a regexp parent, one refused name, a
  // broadcast on the parent reaching both.
  async dynamic() {
    const a = io(url + "/dyn-1", opts());
    const b = io(url + "/dyn-2", opts({ forceNew: true }));
    const helloA = nextEvent(a, "hello");
    const helloB = nextEvent(b, "hello");
    const okA = outcome(a);
    const okB = outcome(b);
    out("a", await okA);
    out("b", await okB);
    out("hello", { a: await helloA, b: await helloB });
    const x = io(url + "/elsewhere", opts({ forceNew: true }));
    out("elsewhere", await outcome(x));
    x.close();
    const newsA = nextEvent(a, "news");
    const newsB = nextEvent(b, "news");
    a.emit("parent-emit", "all children");
    out("news", { a: await newsA, b: await newsB });
    a.close();
    b.close();
    finish();
  },

  // unhandled: an event with no handler gets no ack; a handled one does.
  async unhandled() {
    const s = io(url, opts());
    await outcome(s);
    out("unhandled", await callTimeout(s, 500, "nobody-handles", 1));
    out("handled", await callTimeout(s, 5000, "echo", 2));
    s.close();
    finish();
  },

  // serverclose: the server disconnects the socket with close=true; the
  // client must see "io server disconnect" (and so not reconnect).
  async serverclose() {
    const s = io(url, opts());
    await outcome(s);
    const reason = new Promise((resolve) => s.once("disconnect", (r) => resolve(r)));
    s.emit("close-me");
    out("disconnect", { reason: await reason });
    finish();
  },

  // steady: a well-behaved client that sends an acknowledged "echo" every
  // 20 ms while an abuser runs beside it. It first measures 25 round trips
  // alone and prints "baseline" (their median, 90th and 95th percentiles
  // and slowest); it then goes on until its standard input closes (argument 4
  // "stdin") or for argument 4 milliseconds, and prints "steady": how many
  // were sent and answered after the baseline, their round trips, the
  // "relay" events it received and the reason of a disconnection ("" when
  // it stayed connected). Every 10 round trips after the baseline it
  // prints "tick".
  async steady() {
    const arg = process.argv[5] || "2000";
    clearTimeout(deadline);
    const longDeadline = setTimeout(() => fail("scenario steady timed out"), 110_000);
    const s = io(url, opts());
    await outcome(s);
    let disconnected = "";
    s.on("disconnect", (reason) => (disconnected = reason));
    let relayed = 0;
    s.on("relay", () => relayed++);
    const stats = (times) => {
      const sorted = [...times].sort((a, b) => a - b);
      const q = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0);
      return { p50Ms: q(0.5), p90Ms: q(0.9), p95Ms: q(0.95), worstMs: sorted.length ? sorted[sorted.length - 1] : 0 };
    };
    let sent = 0, answered = 0;
    const round = async (times) => {
      const t0 = performance.now();
      sent++;
      const r = await callTimeout(s, 5000, "echo", sent);
      if (r.ack && r.ack[0] === sent) answered++;
      times.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    };
    const base = [];
    for (let i = 0; i < 25; i++) await round(base);
    out("baseline", { sent, answered, ...stats(base) });
    sent = answered = 0;
    let stop = false;
    if (arg === "stdin") {
      process.stdin.on("end", () => (stop = true));
      process.stdin.on("close", () => (stop = true));
      process.stdin.resume();
    } else {
      setTimeout(() => (stop = true), Number(arg));
    }
    const during = [];
    while (!stop && !disconnected) {
      await round(during);
      if (during.length % 10 === 0) out("tick", { rounds: during.length });
    }
    out("steady", { sent, answered, relayed, disconnected, ...stats(during) });
    clearTimeout(longDeadline);
    s.close();
    finish();
  },

  // drain: the server drains; the client must see a dropped transport
  // (so it tries to reconnect), and its reconnection is refused while
  // the node drains.
  async drain() {
    const s = io(url, { ...opts(), reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
    await outcome(s);
    out("connected");
    const reason = await new Promise((resolve) => s.once("disconnect", resolve));
    out("disconnect", { reason });
    await new Promise((resolve) => s.io.once("reconnect_error", resolve));
    out("reconnect_refused");
    s.close();
    finish();
  },

  // bysid: the connect handler saved a session and entered a room by sid.
  async bysid() {
    const s = io(url, opts());
    await outcome(s);
    out("state", { args: await call(s, "my-state") });
    s.close();
    finish();
  },
};

const run = scenarios[scenario];
if (!run) fail(`unknown scenario ${scenario}`);
run().catch(fail);
