// Headless-Chromium check of the gateway's chat demo page.
//
//   node browser.mjs <url> [screenshot-dir]
//
// Opens three pages: alice and bob join room "blue", carol joins "green".
// alice and bob exchange messages; carol must see neither. Prints one JSON
// line {"ev":"result", ...} that gateway/cmd/gateway/browser_test.go
// asserts on, or {"ev":"error","message":...} and exits 1.
import { chromium } from "playwright-core";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, dirArg] = process.argv.slice(2);
if (!url) {
  console.error("usage: node browser.mjs <url> [screenshot-dir]");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, ...data }) + "\n");

let browser;
const fail = async (err) => {
  out("error", { message: String(err && err.stack ? err.stack : err) });
  try {
    await browser?.close();
  } catch {}
  process.exit(1);
};
const deadline = setTimeout(() => fail("browser scenario timed out"), 150_000);

const STEP = 30_000; // bound for each wait in the page (CI machines can be slow)
const t0 = Date.now();
const timings = [];
const mark = (step) => timings.push([step, Date.now() - t0]);

async function openChat(name, room, problems) {
  const page = await browser.newPage();
  page.setDefaultTimeout(STEP);
  page.on("pageerror", (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on("console", (m) => {
    // A failed fetch is reported below with its URL.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push(`${name}: console error: ${m.text()}`);
    }
  });
  page.on("response", (r) => {
    // Browsers ask for /favicon.ico on their own; the demo has none.
    if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) {
      problems.push(`${name}: HTTP ${r.status()} for ${r.url()}`);
    }
  });
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => document.getElementById("status").textContent === "connected");
  // The connect handler put us in the lobby.
  await page.waitForFunction(() => document.getElementById("room").textContent === "lobby");
  await page.fill("#nick", name);
  await page.click("#nick-form button");
  await page.fill("#room-name", room);
  await page.click("#room-form button");
  await page.waitForFunction((r) => document.getElementById("room").textContent === r, room);
  // The server handles one client's events in order: once the join shows,
  // the nickname is set too.
  return page;
}

const logLines = (page) => page.$$eval("#log p", (ps) => ps.map((p) => p.textContent));

async function say(page, text) {
  await page.fill("#text", text);
  await page.click("#chat-form button");
  // chat.js clears the input once the server acknowledged the message.
  await page.waitForFunction(() => document.getElementById("text").value === "");
}

const waitForLine = (page, line) =>
  page.waitForFunction((l) => [...document.querySelectorAll("#log p")].some((p) => p.textContent === l), line);

try {
  const dir = dirArg || (await mkdtemp(join(tmpdir(), "siogate-browser-")));
  browser = await chromium.launch({
    executablePath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    timeout: 60_000,
  });
  mark("launched");
  const problems = [];
  const alice = await openChat("alice", "blue", problems);
  mark("alice ready");
  const bob = await openChat("bob", "blue", problems);
  mark("bob ready");
  const carol = await openChat("carol", "green", problems);
  mark("carol ready");

  await say(alice, "hello from alice");
  await waitForLine(bob, "alice: hello from alice");
  await waitForLine(alice, "alice: hello from alice");
  await say(bob, "hi from bob");
  await waitForLine(alice, "bob: hi from bob");
  await waitForLine(bob, "bob: hi from bob");
  // carol's own message reaches carol only; once it shows, anything the
  // server sent her before it has been shown too.
  await say(carol, "carol here");
  await waitForLine(carol, "carol: carol here");
  mark("chatted");
  await new Promise((r) => setTimeout(r, 300));

  const screenshot = join(dir, "chat-bob.png");
  await bob.screenshot({ path: screenshot, fullPage: true });
  const result = {
    browserVersion: browser.version(),
    logs: { alice: await logLines(alice), bob: await logLines(bob), carol: await logLines(carol) },
    status: {
      alice: await alice.textContent("#status"),
      bob: await bob.textContent("#status"),
      carol: await carol.textContent("#status"),
    },
    ioLoaded: await bob.evaluate(() => typeof window.io === "function"),
    problems,
    screenshot,
    timings,
  };
  await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 10_000))]);
  clearTimeout(deadline);
  out("result", result);
  process.exit(0);
} catch (err) {
  await fail(err);
}
