// Headless-Chromium check of the gateway's Socket.IO Admin UI support: the
// real @socket.io/admin-ui front end, served by the gateway at /admin/,
// logs in and administers two socket.io-client sockets.
//
//   node admin-ui.mjs <url> <screenshot-dir> <username> <password>
//
// Prints JSON lines. {"ev":"check",...} asks the Go test to check the
// server's state; it answers one JSON line on stdin ({"ok":true} or
// {"ok":false,"why":...}). The last line is {"ev":"result",...}, or
// {"ev":"error","message":...} with exit status 1.
import { chromium } from "playwright-core";
import { io } from "socket.io-client";
import { createInterface } from "node:readline";
import { join } from "node:path";

const [url, dir, username, password] = process.argv.slice(2);
if (!url || !dir || !username || !password) {
  console.error("usage: node admin-ui.mjs <url> <screenshot-dir> <username> <password>");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");

let browser;
const clients = [];
const fail = async (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  clients.forEach((c) => c.close());
  try {
    await browser?.close();
  } catch {}
  process.exit(1);
};
const deadline = setTimeout(() => fail("admin UI scenario timed out"), 150_000);

const STEP = 30_000; // bound for each wait (CI machines can be slow)
const t0 = Date.now();
const timings = [];
const mark = (step) => timings.push([step, Date.now() - t0]);

// Answers from the Go test, one line per check.
const answers = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function check(what) {
  out("check", what);
  const next = await Promise.race([
    answers.next(),
    new Promise((_, rej) => setTimeout(() => rej(new Error(`no answer to check ${JSON.stringify(what)}`)), STEP)),
  ]);
  const a = JSON.parse(next.value);
  if (!a.ok) throw new Error(`server check ${JSON.stringify(what)} failed: ${a.why}`);
}

// A socket.io-client socket that records what it receives.
function client(name) {
  const s = io(url, { forceNew: true, reconnection: false });
  const rec = { name, events: [], disconnects: [] };
  s.onAny((ev, ...args) => rec.events.push([ev, ...args]));
  s.on("disconnect", (reason) => rec.disconnects.push(reason));
  clients.push(s);
  return { s, rec };
}

const until = async (what, cond) => {
  const end = Date.now() + STEP;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

try {
  // Two sockets of the demo: both start in "lobby"; alice moves to "blue".
  const alice = client("alice");
  const bob = client("bob");
  await until("the clients to connect", () => alice.s.connected && bob.s.connected);
  const joined = await alice.s.timeout(STEP).emitWithAck("join", "blue");
  if (joined !== true) throw new Error(`alice could not join blue: ${joined}`);
  const sids = { alice: alice.s.id, bob: bob.s.id };
  await check({ what: "room", sid: sids.alice, room: "blue" });
  mark("clients ready");

  browser = await chromium.launch({
    executablePath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    timeout: 60_000,
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(STEP);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // index.html loads web fonts and icons from CDNs: no network here, so
  // they are refused at once (the UI works without them).
  await page.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (r) => r.abort());
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  const screenshots = [];
  const shot = async (name) => {
    await page.waitForTimeout(500); // let the page transition finish
    const p = join(dir, `admin-${name}.png`);
    await page.screenshot({ path: p, fullPage: true });
    screenshots.push(p);
  };
  const mainText = () => page.evaluate(() => document.querySelector("main")?.innerText || "");
  const waitMain = (what, texts) =>
    page.waitForFunction(
      (ts) => {
        const t = document.querySelector("main")?.innerText || "";
        return ts.every((x) => t.includes(x));
      },
      texts,
      { timeout: STEP },
    ).catch(async (e) => {
      throw new Error(`${what}: ${e.message}\npage text:\n${await mainText()}`);
    });

  // Log in with the UI's connection form: server URL, WebSocket only,
  // username and password.
  await page.goto(url + "/admin/", { waitUntil: "load" });
  await page.getByLabel("Server URL").fill(url);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill("wrong-" + password);
  await page.getByText("Advanced options").click();
  await page.getByText("WebSocket only?").click();
  if (!(await page.getByRole("switch", { name: "WebSocket only?" }).isChecked())) {
    throw new Error("could not tick WebSocket only");
  }
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByText("Invalid credentials").or(page.getByText("invalid credentials")).first().waitFor();
  await shot("1-login-refused");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Connect" }).click();
  await page.locator(".v-dialog--active").waitFor({ state: "detached" });
  const sessionId = await page.evaluate(() => localStorage.getItem("session_id"));
  if (!sessionId) throw new Error("the UI got no session id");
  mark("logged in");
  // The dashboard lists the namespaces with their socket counts (from
  // server_stats).
  await waitMain("dashboard", ["/admin"]);
  await shot("2-dashboard");

  // The connected sockets.
  await page.goto(url + "/admin/#/sockets/");
  await waitMain("sockets page", [sids.alice, sids.bob]);
  await shot("3-sockets");
  // The rooms.
  await page.goto(url + "/admin/#/rooms/");
  await waitMain("rooms page", ["blue", "lobby"]);
  await shot("4-rooms");
  mark("sockets and rooms seen");

  // Emit: the 0.5 UI has no emit form (its handler is an empty stub), so
  // the page emits on the admin protocol itself, logged in with the
  // session id the UI was given.
  await page.addScriptTag({ url: url + "/socket.io.min.js" });
  const emitted = await page.evaluate(
    ([base, sid, session]) =>
      new Promise((resolve) => {
        const s = window.io(base + "/admin", { auth: { sessionId: session }, transports: ["websocket"], forceNew: true });
        s.on("connect_error", (e) => resolve("connect_error: " + e.message));
        s.on("connect", () =>
          s.timeout(10_000).emit("emit", "/", sid, "admin-ping", { from: "admin-ui" }, (err, res) => {
            s.close();
            resolve(err ? String(err) : res);
          }),
        );
      }),
    [url, sids.alice, sessionId],
  );
  if (emitted !== null) throw new Error(`emit from the UI page: ${emitted}`);
  await until("alice to receive admin-ping", () => alice.rec.events.some((e) => e[0] === "admin-ping"));
  if (bob.rec.events.some((e) => e[0] === "admin-ping")) throw new Error("bob received alice's admin-ping");
  mark("emitted");

  // Join a room from bob's socket page.
  await page.goto(url + "/admin/#/n/%2F/sockets/" + sids.bob);
  await waitMain("bob's socket page", [sids.bob, "Join a room", "lobby"]);
  const roomInput = page.locator("main form input[type=text]").last();
  await roomInput.fill("green");
  // The room field is a combobox: its value is taken when it loses the
  // focus, which clicking the join button does.
  await page.locator("main form button[type=submit]:has(i.mdi-tag-plus-outline)").click();
  await check({ what: "room", sid: sids.bob, room: "green" });
  await waitMain("green in bob's rooms", ["green"]);
  await shot("5-socket-joined-green");
  mark("joined");

  // Disconnect bob's socket (the namespace, not the whole client) from
  // the same page: the second logout button is the socket's.
  await page.locator("main button:has(i.mdi-logout)").nth(1).click();
  await until("bob to see the disconnect", () => bob.rec.disconnects.length > 0);
  await check({ what: "gone", sid: sids.bob });
  await page.goto(url + "/admin/#/sockets/");
  await page.waitForFunction(
    ([a, b]) => {
      const t = document.querySelector("main")?.innerText || "";
      return t.includes(a) && !t.includes(b);
    },
    [sids.alice, sids.bob],
  );
  await shot("6-sockets-after-disconnect");
  mark("disconnected");

  const result = {
    browserVersion: browser.version(),
    sids,
    screenshots,
    problems,
    aliceEvents: alice.rec.events,
    bobEvents: bob.rec.events,
    bobDisconnects: bob.rec.disconnects,
    aliceConnected: alice.s.connected,
    timings,
  };
  clients.forEach((c) => c.close());
  await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 10_000))]);
  clearTimeout(deadline);
  out("result", result);
  process.exit(0);
} catch (err) {
  await fail(err);
}
