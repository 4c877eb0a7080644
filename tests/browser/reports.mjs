// The reports in headless Chromium: the board's trend charts and hot topics, the ranking
// sorted by clicking a header, the monthly report on screen and as printed (A4, no
// navigation). Started by tests/reports_browser_test.rs with BASE, SHOTS, DAYS_IN_MONTH.
// Screenshots (and the printed report as PDF) land in SHOTS. Exit code 0 when all passed.
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

async function login(browser, name) {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: "zh-CN" });
  const page = await ctx.newPage();
  await page.goto(`${BASE}/login`);
  await page.fill('input[name="name"]', name);
  await page.fill('input[name="password"]', `pw-${name}-long-enough`);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  check(!page.url().endsWith("/login"), `login of ${name} failed`);
  return { ctx, page };
}

/// The number of plotted points of each chart in `sel`, and that each chart says as much.
async function points(page, sel) {
  const charts = page.locator(`${sel} svg.chart`);
  const n = await charts.count();
  const out = [];
  for (let i = 0; i < n; i++) {
    const c = charts.nth(i);
    const pts = await c.locator(".pt").count();
    const said = Number(await c.getAttribute("data-points"));
    check(pts === said, `${sel} chart ${i}: ${pts} points drawn, ${said} announced`);
    const box = await c.boundingBox();
    check(box && box.width > 200 && box.height > 80, `${sel} chart ${i} is visible: ${JSON.stringify(box)}`);
    out.push(pts);
  }
  return out;
}

const journeys = {
  async board_shows_trends_and_hot_topics(browser) {
    const { ctx, page } = await login(browser, "rb_sup");
    await page.goto(`${BASE}/board`);
    const days = await points(page, "#trend-days");
    const months = await points(page, "#trend-months");
    check(days.length === 4 && months.length === 4, `four charts each: ${days} / ${months}`);
    check(days[0] === 30 && days[1] === 30, `30 days of calls and tickets: ${days}`);
    check(months[0] === 12 && months[1] === 12, `12 months of calls and tickets: ${months}`);
    check(days[3] >= 1, `satisfaction today is plotted: ${days}`);
    const titles = await page.locator("#trend-days svg.chart > title").allTextContents();
    check(titles.join(",").includes("近30天接通率") && titles.join(",").includes("近30天满意度"), `titles: ${titles}`);
    const burst = await page.locator("#hot-matters tr.burst").first().innerText();
    check(burst.includes("供水") && burst.includes("突增"), `the outage is a burst: ${burst}`);
    await page.locator("#trend-days").scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/reports-01-board.png`, fullPage: true });
    await ctx.close();
  },

  async ranking_sorts_by_clicking_a_header(browser) {
    const { ctx, page } = await login(browser, "rb_sup");
    await page.goto(`${BASE}/reports/departments`);
    const first = await page.locator("#ranking tbody tr").first().getAttribute("data-department");
    check(first === "gas", `rank 1 is gas (on time and satisfied): ${first}`);
    await Promise.all([page.waitForNavigation(), page.click('#ranking th a[data-sort="received"]')]);
    check(page.url().includes("sort=received") && page.url().includes("dir=desc"), page.url());
    const top = await page.locator("#ranking tbody tr").first().getAttribute("data-department");
    check(top === "water", `most received first: ${top}`);
    await Promise.all([page.waitForNavigation(), page.click('#ranking th a[data-sort="received"]')]);
    check(page.url().includes("dir=asc"), `a second click flips the order: ${page.url()}`);
    await page.screenshot({ path: `${SHOTS}/reports-02-ranking.png`, fullPage: true });
    await ctx.close();
  },

  async monthly_report_prints_on_a4(browser) {
    const { ctx, page } = await login(browser, "rb_sup");
    await page.goto(`${BASE}/reports/monthly`);
    const days = await points(page, "#monthly-days");
    const months = await points(page, "#monthly-months");
    const n = Number(env("DAYS_IN_MONTH"));
    check(days[0] === n && days[1] === n, `a bar per day of the month (${n}): ${days}`);
    check(months[0] === 12, `12 months: ${months}`);
    check(await page.locator("#monthly-kpis tbody tr").count() >= 10, "the KPIs with targets");
    check(await page.locator("#monthly-ranking tbody tr").count() >= 2, "the ranking");
    await page.screenshot({ path: `${SHOTS}/reports-03-monthly.png`, fullPage: true });
    await page.emulateMedia({ media: "print" });
    check(!(await page.locator("header.top").isVisible()), "no navigation when printed");
    check(!(await page.locator("form.no-print").isVisible()), "no month picker when printed");
    await page.screenshot({ path: `${SHOTS}/reports-04-monthly-print.png`, fullPage: true });
    await page.pdf({ path: `${SHOTS}/reports-monthly.pdf`, format: "A4", printBackground: true });
    await ctx.close();
  },
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let failed = 0;
for (const [name, run] of Object.entries(journeys)) {
  try {
    await run(browser);
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
await browser.close();
process.exit(failed ? 1 : 0);
