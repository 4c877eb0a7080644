// The abandoned-calls list and a ticket's transcript in headless Chromium. Started by
// tests/web_abandoned_test.rs with BASE, SHOTS, OPERATOR, TICKET.
// Prints "ok abandoned_list" when the operator reaches the list from the navigation and it
// shows today's to-do entries (queue and voice-menu hang-ups) without the caller who
// called again, who shows as 已再次来电 under 全部; "ok transcript_seek" when clicking a
// transcript segment moves the recording's player to that segment's start and plays, and
// the recording answers a range request with 206. Else "FAIL …" and exit code 1.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing env ${k}`);
  return v;
};
const BASE = env("BASE");
const SHOTS = env("SHOTS");
mkdirSync(SHOTS, { recursive: true });
function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"],
});
const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "zh-CN" });
const page = await ctx.newPage();
let code = 0;
const name = env("OPERATOR");
await page.goto(`${BASE}/login`);
await page.fill('input[name="name"]', name);
await page.fill('input[name="password"]', `pw-${name}-long-enough`);
await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);

try {
  await Promise.all([page.waitForNavigation(), page.click('nav a[href="/console/abandoned"]')]);
  const rows = page.locator("#abandoned tbody tr[data-call]");
  check(await rows.count() === 2, `two to-do entries, got ${await rows.count()}`);
  const first = await rows.nth(0).innerText();
  const second = await rows.nth(1).innerText();
  check(first.includes("13800002222") && first.includes("语音导航：menu") && first.includes("待回拨"), `newest first, hung up in the menu: ${first}`);
  check(second.includes("13800001111") && second.includes("排队：人工服务") && second.includes("42 秒"), `queue hang-up after 42 s: ${second}`);
  check(await page.locator("#abandoned .call-back-btn").count() === 2, "a 回拨 button on each to-do entry");
  check(!(await page.locator("#abandoned").innerText()).includes("13800003333"), "the caller who called again is not to do");
  await page.screenshot({ path: `${SHOTS}/abandoned-todo.png`, fullPage: true });
  await page.selectOption('select[name="show"]', "all");
  await Promise.all([page.waitForNavigation(), page.click('#filters button[type="submit"]')]);
  const again = page.locator("#abandoned tbody tr", { hasText: "13800003333" });
  check(await again.count() === 1, "the caller who called again is listed under 全部");
  check((await again.innerText()).includes("已再次来电"), `shows 已再次来电: ${await again.innerText()}`);
  check(await again.locator(".call-back-btn").count() === 0, "no 回拨 for a caller who called again");
  await page.screenshot({ path: `${SHOTS}/abandoned-all.png`, fullPage: true });
  console.log("ok abandoned_list");
} catch (e) {
  code = 1;
  console.log(`FAIL abandoned_list: ${e.message}`);
}

try {
  const id = env("TICKET");
  await page.goto(`${BASE}/tickets/${id}`);
  const segs = page.locator("#transcript button[data-seek]");
  check(await segs.count() === 3, `three segments, got ${await segs.count()}`);
  check((await segs.nth(1).innerText()).includes("00:04"), `mm:ss shown: ${await segs.nth(1).innerText()}`);
  const range = await page.evaluate(async (url) => {
    const r = await fetch(url, { headers: { Range: "bytes=100-199" } });
    return { status: r.status, range: r.headers.get("content-range"), len: (await r.arrayBuffer()).byteLength };
  }, `${BASE}/tickets/${id}/recording`);
  check(range.status === 206 && range.len === 100 && /^bytes 100-199\//.test(range.range || ""), `range request: ${JSON.stringify(range)}`);
  for (const [i, start] of [[2, 8.5], [1, 4.2]]) {
    await segs.nth(i).click();
    await page.waitForFunction(
      (s) => { const a = document.getElementById("recording"); return a.currentTime >= s && a.currentTime < s + 2.5; },
      start, { timeout: 10000 });
    const state = await page.evaluate(() => { const a = document.getElementById("recording"); return { t: a.currentTime, paused: a.paused }; });
    check(!state.paused, `playing after the click: ${JSON.stringify(state)}`);
  }
  await page.screenshot({ path: `${SHOTS}/ticket-transcript.png`, fullPage: true });
  console.log("ok transcript_seek");
} catch (e) {
  code = 1;
  console.log(`FAIL transcript_seek: ${e.message}`);
}
await browser.close();
process.exit(code);
