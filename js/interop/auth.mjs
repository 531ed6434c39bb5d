// Connect-authentication driver: the official socket.io-client against a
// siogate gateway run with --auth jwt or --auth hook. Used by
// gateway/cmd/gateway/auth_test.go.
//
//   node auth.mjs <url> cases '<json list of cases>'
//   node auth.mjs <url> flood <n> [transports]
//   node auth.mjs <url> until-accepted <ms>
//   node auth.mjs <url> recover-reauth '{"good": token, "expired": token, "room": room}'
//
// A case is {name, auth?, query?, headers?, transports?, want: "ok"|"refused",
// message?, rooms?: [room...]}: the client connects with that auth payload,
// query and extra headers, and checks the outcome itself (err.message for a
// refusal). An accepted client asks the server "whoami" (its data and rooms
// as the server sees them) and, for each room, asks the server to broadcast
// to it and waits for the broadcast.
//
// Every observation is one JSON line {"ev": name, ...}; a failure prints
// {"ev":"error","message":...} and exits with status 1.
import { io } from "socket.io-client";

const [url, scenario, arg, transportList] = process.argv.slice(2);
const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");
const fail = (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
const deadline = setTimeout(() => fail(`scenario ${scenario} timed out`), 60_000);
const finish = () => {
  clearTimeout(deadline);
  out("done");
  setTimeout(() => process.exit(0), 100);
};
const opts = (extra = {}) => ({ reconnection: false, forceNew: true, timeout: 10_000, ...extra });

// outcome resolves with {ok} or the connect_error's message and data.
const outcome = (s) =>
  new Promise((resolve) => {
    s.once("connect", () => resolve({ ok: true }));
    s.once("connect_error", (err) => resolve({ ok: false, message: err.message, data: err.data }));
  });
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms}ms`)), ms))]);
const call = (s, ev, ...args) => withTimeout(new Promise((resolve) => s.emit(ev, ...args, (...ack) => resolve(ack))), 5000, ev);

const scenarios = {
  async cases() {
    for (const c of JSON.parse(arg)) {
      const s = io(url, opts({
        auth: c.auth,
        query: c.query,
        extraHeaders: c.headers,
        ...(c.transports ? { transports: c.transports } : {}),
      }));
      const res = await outcome(s);
      if ((c.want === "ok") !== res.ok) {
        s.close();
        fail(`case ${c.name}: want ${c.want}, got ${JSON.stringify(res)}`);
      }
      if (!res.ok) {
        if (c.message !== undefined && res.message !== c.message) {
          s.close();
          fail(`case ${c.name}: err.message ${JSON.stringify(res.message)}, want ${JSON.stringify(c.message)}`);
        }
        out("refused", { name: c.name, message: res.message, data: res.data });
        s.close();
        continue;
      }
      const [who] = await call(s, "whoami");
      const got = [];
      for (const room of c.rooms || []) {
        const news = withTimeout(new Promise((resolve) => s.once("room-news", resolve)), 5000, `broadcast to ${room}`);
        await call(s, "ping-room", room);
        got.push(await news);
      }
      out("accepted", { name: c.name, who, broadcasts: got });
      s.close();
    }
    finish();
  },

  // flood: n clients connect at once; prints how many were accepted and
  // the refusals by message and code.
  async flood() {
    const n = Number(arg);
    const sockets = [];
    const transports = transportList ? { transports: transportList.split(",") } : {};
    for (let i = 0; i < n; i++) sockets.push(io(url, opts({ auth: { i }, ...transports })));
    const results = await Promise.all(sockets.map(outcome));
    for (const s of sockets) s.close();
    const refused = {};
    let accepted = 0;
    for (const r of results) {
      if (r.ok) accepted++;
      else {
        const key = `${r.data && r.data.code}|${r.message}`;
        refused[key] = (refused[key] || 0) + 1;
      }
    }
    out("flood", { accepted, refused });
    finish();
  },

  // recover-reauth: with connection state recovery, a dropped connection
  // comes back recovered with a valid token, and is refused once the
  // token it presents has expired (authentication runs again).
  async "recover-reauth"() {
    const { good, expired, room } = JSON.parse(arg);
    let token = good;
    const s = io(url, {
      forceNew: true, timeout: 10_000, reconnectionDelay: 50, reconnectionDelayMax: 200, randomizationFactor: 0,
      auth: (cb) => cb({ token }),
    });
    const first = await outcome(s);
    if (!first.ok) fail(`first connect refused: ${JSON.stringify(first)}`);
    const news = async () => {
      const p = withTimeout(new Promise((resolve) => s.once("room-news", resolve)), 5000, "room-news");
      await call(s, "ping-room", room);
      return p;
    };
    await news(); // an event with an offset: the client can now recover
    const sid = s.id;
    let again = new Promise((resolve) => s.once("connect", resolve));
    s.io.engine.close();
    await withTimeout(again, 10_000, "reconnect");
    const [who] = await call(s, "whoami");
    out("reconnected", { recovered: s.recovered, sameId: s.id === sid, who });
    await news();
    token = expired;
    const refused = withTimeout(new Promise((resolve) => s.once("connect_error", (err) => resolve(err))), 10_000, "refusal");
    s.io.engine.close();
    const err = await refused;
    out("refused", { message: err.message, data: err.data });
    s.close();
    finish();
  },

  // until-accepted: one client after another (every 100ms) until one is
  // accepted or ms pass; prints the refusals seen on the way.
  async "until-accepted"() {
    const end = Date.now() + Number(arg);
    const seen = {};
    for (let attempt = 1; Date.now() < end; attempt++) {
      const s = io(url, opts());
      const r = await outcome(s);
      s.close();
      if (r.ok) {
        out("accepted", { attempt, seen });
        return finish();
      }
      const key = `${r.data && r.data.code}|${r.message}`;
      seen[key] = (seen[key] || 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    fail(`never accepted; refusals: ${JSON.stringify(seen)}`);
  },
};

const run = scenarios[scenario];
if (!run) fail(`unknown scenario ${scenario}`);
run().catch(fail);
