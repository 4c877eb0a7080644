// Agents for bench/webrtc.sh: LEGS operators (op001…) in one headless Chromium, each on the
// agent desk with its softphone, ready, answering every call that rings (Alt+A). Prints
// "ready N" once all are ready, "talking N" whenever the count of connected calls changes;
// runs until killed. Env: BASE, LEGS, PASSWORD, MIC_WAV.
import { chromium } from "playwright-core";

const BASE = process.env.BASE;
const LEGS = Number(process.env.LEGS || 10);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${process.env.MIC_WAV}`,
    "--autoplay-policy=no-user-gesture-required",
  ],
});
const pages = [];
for (let i = 1; i <= LEGS; i++) {
  const name = `op${String(i).padStart(3, "0")}`;
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${BASE}/login`);
  await page.fill('input[name="name"]', name);
  await page.fill('input[name="password"]', process.env.PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  await page.goto(`${BASE}/console/desk`);
  await page.locator('#sp-state[data-state="idle"]').waitFor({ timeout: 20000 });
  await page.click("#btn-ready");
  await page.locator('#my-state[data-state="ready"]').waitFor({ timeout: 20000 });
  pages.push(page);
}
console.log(`ready ${pages.length}`);
let last = -1;
for (;;) {
  let talking = 0;
  for (const p of pages) {
    const s = await p.locator("#sp-state").getAttribute("data-state");
    if (s === "ringing") await p.click("#sp-answer");
    if (s === "talking") talking++;
  }
  if (talking !== last) console.log(`talking ${talking}`);
  last = talking;
  await new Promise((r) => setTimeout(r, 500));
}
