// The agent desk's screen pop in headless Chromium. Started by tests/acd_desk_test.rs with
//   BASE, SHOTS, AGENT, PASSWORD, CALLER, EARLIER_TICKET, SIMILAR_TICKET, SUPERVISOR
// Prints "ready" once the agent is ready on the desk page (the test then calls in), and
// "ok screen_pop" when the pop shows the caller, their earlier ticket and the similar open
// ticket to merge with, also after a reload during the call, and the supervisor's wallboard
// (opened before the call) shows the caller waiting and the agent ringing (else "FAIL …").
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

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let code = 0;
async function login(name) {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "zh-CN" });
  const page = await ctx.newPage();
  await page.goto(`${BASE}/login`);
  await page.fill('input[name="name"]', name);
  await page.fill('input[name="password"]', env("PASSWORD"));
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  return page;
}
try {
  const board = await login(env("SUPERVISOR"));
  await board.goto(`${BASE}/console/wallboard`);
  const page = await login(env("AGENT"));
  await page.goto(`${BASE}/console/desk`);
  await page.locator("#live:not(.off)").waitFor({ timeout: 10000 });
  await page.click("#btn-ready");
  await page.locator('#my-state[data-state="ready"]').waitFor({ timeout: 10000 });
  await page.screenshot({ path: `${SHOTS}/desk-ready.png`, fullPage: true });
  console.log("ready");
  // The phone rings within seconds of the caller pressing 0.
  await page.locator("#pop-caller", { hasText: env("CALLER") }).waitFor({ timeout: 30000 });
  await page.locator("#pop-earlier", { hasText: env("EARLIER_TICKET") }).waitFor({ timeout: 5000 });
  await page.locator("#pop-similar", { hasText: env("SIMILAR_TICKET") }).waitFor({ timeout: 5000 });
  const form = await page.locator('#pop input[name="phone"]').inputValue();
  if (form !== env("CALLER")) throw new Error(`new-ticket form has phone ${form}`);
  await page.screenshot({ path: `${SHOTS}/desk-screen-pop.png`, fullPage: true });
  // Opened again while the phone still rings, the desk shows the same caller.
  await page.reload();
  await page.locator("#pop-caller", { hasText: env("CALLER") }).waitFor({ timeout: 5000 });
  // The wallboard refreshes by itself: the caller waits, the agent's phone rings.
  await board.locator("#wb-waiting", { hasText: env("CALLER") }).waitFor({ timeout: 8000 });
  await board.locator(`#wb-agents tr[data-agent="${env("AGENT")}"]`, { hasText: "振铃" }).waitFor({ timeout: 8000 });
  await board.screenshot({ path: `${SHOTS}/wallboard-ringing.png`, fullPage: true });
  console.log("ok screen_pop");
} catch (e) {
  code = 1;
  console.log(`FAIL screen_pop: ${e.message}`);
}
await browser.close();
process.exit(code);
