// The console's main journeys in headless Chromium. Started by tests/web_browser_test.rs,
// which prepares the site and passes what it made in the environment:
//   BASE, SHOTS (screenshot dir), PW_SUFFIX, OP_TICKET, DEPT_SIGN_TICKET, DEPT_RETURN_TICKET,
//   SUP_TICKET, STATUS_NUMBER, STATUS_LAST4, OP_TOKEN, CALL_CALLER
// Exit code 0 when every journey passed; failures are printed.
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
const pw = (name) => `pw-${name}-long-enough`;
const CODE_WORDS = ["accepted", "dispatched", "in_progress", "extension_requested", "follow_up",
  "urban_management", "consultation", "complaint", "undefined", "null"];

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function noCodeNames(page, where) {
  const text = await page.evaluate(() => document.body.innerText);
  for (const w of CODE_WORDS) check(!text.includes(w), `${where}: English code name "${w}" visible`);
}

async function login(browser, name) {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "zh-CN" });
  const page = await ctx.newPage();
  await page.goto(`${BASE}/login`);
  await page.fill('input[name="name"]', name);
  await page.fill('input[name="password"]', pw(name));
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  check(!page.url().endsWith("/login"), `login of ${name} failed`);
  return { ctx, page };
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

const journeys = {
  async operator_dispatches_a_transcribed_call(browser) {
    const { ctx, page } = await login(browser, "b_op");
    await page.goto(`${BASE}/console`);
    const id = env("OP_TICKET");
    check(await page.locator(`tr[data-href="/tickets/${id}"]`).count() === 1, "call ticket in the queue");
    await noCodeNames(page, "console");
    await shot(page, "01-operator-console");
    // A new ticket arriving through the API appears without a reload (SSE).
    await page.goto(`${BASE}/console?scope=all`);
    await page.locator("#live").waitFor();
    await page.waitForTimeout(500);
    const res = await fetch(`${BASE}/api/v1/tickets`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${env("OP_TOKEN")}` },
      body: JSON.stringify({ phone: "13955556666", text: "咨询：社保卡如何补办？" }),
    });
    check(res.status === 201, `API create: ${res.status}`);
    const created = await res.json();
    const before = Number(await page.locator("#total").innerText());
    await page.locator(`tr[data-href="/tickets/${created.id}"]`).waitFor({ timeout: 30000 });
    check(Number(await page.locator("#total").innerText()) === before + 1, "count updated live");
    await shot(page, "02-operator-console-live");
    // Keyboard: j selects the first row, Enter opens it.
    await page.goto(`${BASE}/tickets/${id}`);
    check(await page.locator("audio").count() === 1, "recording player on the page");
    const src = await page.locator("audio").getAttribute("src");
    const audio = await page.request.get(`${BASE}${src}`);
    check(audio.status() === 200 && (audio.headers()["content-type"] || "").includes("audio"), `recording served: ${audio.status()}`);
    check((await page.content()).includes("录音转写"), "transcript shown");
    await noCodeNames(page, "ticket page");
    await shot(page, "03-operator-ticket");
    await page.selectOption('#dispatch-form select[name="department"]', "urban_management");
    await Promise.all([page.waitForNavigation(), page.click('#dispatch-form button[type="submit"]')]);
    check((await page.content()).includes("已派单"), "dispatch confirmed");
    check((await page.locator("h1 .state").innerText()).includes("已派单"), "state shows 已派单");
    await shot(page, "04-operator-dispatched");
    await ctx.close();
  },

  async department_signs_returns_and_resolves(browser) {
    const { ctx, page } = await login(browser, "b_water");
    const a = env("DEPT_SIGN_TICKET");
    const b = env("DEPT_RETURN_TICKET");
    await page.goto(`${BASE}/console`);
    await noCodeNames(page, "department console");
    await shot(page, "05-department-console");
    await page.goto(`${BASE}/tickets/${a}`);
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/sign"] button')]);
    check((await page.locator("h1 .state").innerText()).includes("办理中"), "signed → 办理中");
    await page.fill('form[action$="/resolve"] textarea[name="answer"]', "已派人疏通管道，恢复供水。");
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/resolve"] button')]);
    check((await page.locator("h1 .state").innerText()).includes("已办结"), "resolved → 已办结");
    await shot(page, "06-department-resolved");
    await page.goto(`${BASE}/tickets/${b}`);
    await page.fill('form[action$="/return"] textarea[name="reason"]', "该问题属于燃气公司职责");
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/return"] button')]);
    check((await page.locator("h1 .state").innerText()).includes("已退单"), "returned → 已退单");
    await shot(page, "07-department-returned");
    await ctx.close();
  },

  async supervisor_grants_an_extension(browser) {
    const { ctx, page } = await login(browser, "b_sup");
    await page.goto(`${BASE}/board`);
    const id = env("SUP_TICKET");
    check(await page.locator(`tr[data-href="/tickets/${id}"]`).count() >= 1, "extension request on the board");
    await noCodeNames(page, "board");
    await shot(page, "08-supervisor-board");
    await page.goto(`${BASE}/tickets/${id}`);
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/grant"] button')]);
    check((await page.content()).includes("已批准延期"), "grant confirmed");
    await shot(page, "09-supervisor-granted");
    await ctx.close();
  },

  async supervisor_reads_a_call_record(browser) {
    const { ctx, page } = await login(browser, "b_sup");
    await Promise.all([page.waitForNavigation(), page.click('header nav a[href="/console/calls"]')]);
    await page.fill('#filters input[name="caller"]', env("CALL_CALLER"));
    await Promise.all([page.waitForNavigation(), page.click('#filters button[type="submit"]')]);
    const rows = page.locator("#calls tbody tr[data-href]");
    check(await rows.count() === 1, `one call from the caller, got ${await rows.count()}`);
    await noCodeNames(page, "calls list");
    await shot(page, "11-supervisor-calls");
    await Promise.all([page.waitForNavigation(), rows.first().locator("a").click()]);
    const timeline = await page.locator("#timeline").innerText();
    check(timeline.includes("li 接听") && timeline.includes("振铃 zhang"), `timeline: ${timeline}`);
    check(await page.locator(`a[href="/tickets/${env("OP_TICKET")}"]`).count() === 1, "the call's ticket is linked");
    check(await page.locator("audio").count() === 1, "recording player on the call page");
    const src = await page.locator("audio").getAttribute("src");
    const audio = await page.request.get(`${BASE}${src}`);
    check(audio.status() === 200 && (audio.headers()["content-type"] || "").includes("audio"), `call recording served: ${audio.status()}`);
    await noCodeNames(page, "call page");
    await shot(page, "12-supervisor-call");
    await ctx.close();
  },

  async resident_checks_status(browser) {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "zh-CN" });
    const page = await ctx.newPage();
    await page.goto(`${BASE}/status`);
    await page.fill('input[name="number"]', env("STATUS_NUMBER"));
    await page.fill('input[name="last4"]', env("STATUS_LAST4"));
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    const text = await page.locator("#result").innerText();
    check(text.includes(env("STATUS_NUMBER")) && text.includes("承办单位"), `status shown: ${text}`);
    await noCodeNames(page, "status");
    await shot(page, "10-resident-status");
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
