// The agent desk's browser softphone in headless Chromium, whose fake microphone plays
// MIC_WAV. Started by tests/acd_browser_softphone*_test.rs with
//   BASE, SHOTS, AGENT, PASSWORD, CALLER, MODE (talk | close_tab | freeze | keys | follow | close_ringing)
// Prints "ready" once the agent is ready with the phone line open (the test then calls in),
// "talking" once the call rang, was answered with Alt+A and media flows, then
// - talk: "heard FREQ LEVEL" (the loudest pitch of what the page plays from the caller, in
//   Hz, and its level), hangs up with the button and prints "ok hung_up";
// - close_tab: closes the tab mid-call and prints "ok closed";
// - freeze: mutes for 7 s (the call must go on), then prints "freeze PID" (this node
//   process: the test stops the Chromium processes under it, a network gone dead with its
//   sockets left open, and later lets them go on), then waits for the page to leave the
//   call and prints "ok left STATE".
// - keys: presses 1 on the keypad, types 5 and # on the keyboard, prints "keys SHOWN" (the
//   keys the page shows as sent), lets them play out, hangs up and prints "ok keys".
// Two modes take over once "ready" and leave the call's end to others:
// - follow: answers every call that rings (Alt+A, after a person's moment) and never hangs
//   up; prints each change of the phone's state ("phone STATE [CALLER]") and the agent's
//   ("agent STATE"), "ended N" when the Nth call left the page, and "ok calls N" once CALLS
//   (default 1) calls have ended and the agent is ready again. Lines on stdin press the
//   screen pop's call buttons: "hold", "unhold" (by their shortcuts Alt+P, Alt+U), "transfer
//   TARGET" (e.g. agent:ops2; its button); each is answered "did ORDER ok|error MESSAGE"
//   with what the desk said about it; "mute"
//   toggles the phone's mute button ("did mute ok true|false": whether it is pressed now);
// - close_ringing: prints "ringing CALLER" when a call rings, closes the tab before
//   answering and prints "ok closed_ringing".
// Anything else: "FAIL …".
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { createInterface } from "node:readline";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing env ${k}`);
  return v;
};
const BASE = env("BASE");
const SHOTS = env("SHOTS");
const MODE = env("MODE");
mkdirSync(SHOTS, { recursive: true });

// The modes that follow calls as they come (see the header); each ends the script.
const LIFECYCLE = {
  follow: async (page) => {
    const calls = Number(process.env.CALLS || "1");
    const seen = [];
    let wake = () => {};
    await page.exposeFunction("spReport", (what, state, caller) => {
      seen.push([what, state, caller]);
      wake();
    });
    await page.evaluate(() => {
      for (const [id, what] of [["sp-state", "phone"], ["my-state", "agent"]]) {
        const el = document.getElementById(id);
        let last = el.dataset.state;
        new MutationObserver(() => {
          if (el.dataset.state === last) return;
          last = el.dataset.state;
          window.spReport(what, last, document.getElementById("sp-caller").textContent);
        }).observe(el, { attributes: true, attributeFilter: ["data-state"] });
      }
    });
    const orders = [];
    createInterface({ input: process.stdin }).on("line", (l) => {
      orders.push(l.trim());
      wake();
    });
    const until = Date.now() + 120000;
    let [phone, agent, ended, answered] = ["idle", "ready", 0, 0];
    while (!(ended >= calls && phone === "idle" && agent === "ready")) {
      if (Date.now() > until) throw new Error(`follow: ${ended} of ${calls} calls ended in time`);
      if (orders.length) {
        const order = orders.shift();
        if (order === "mute") {
          await page.click("#sp-mute");
          console.log(`did mute ok ${await page.getAttribute("#sp-mute", "aria-pressed")}`);
          continue;
        }
        const [action, target] = order.split(" ");
        const form = page.locator(`#pop form:has(input[name="action"][value="${action}"])`);
        if (target) await form.locator('select[name="target"]').selectOption(target);
        // What the desk says about it (已提交。 or the error), fresh for each button.
        await page.evaluate(() => {
          const m = document.getElementById("desk-msg");
          m.textContent = "";
          m.className = "muted";
        });
        // Hold and take back by their shortcuts, as an operator with a headset would;
        // the transfer by its button.
        const keys = { hold: "Alt+P", unhold: "Alt+U" }[action];
        if (keys) await page.keyboard.press(keys);
        else await form.locator('button[type="submit"]').click();
        const said = page.locator("#desk-msg.ok, #desk-msg.error");
        await said.waitFor({ timeout: 10000 });
        console.log(`did ${order} ${await said.getAttribute("class")} ${await said.textContent()}`);
        continue;
      }
      if (!seen.length) {
        await new Promise((ok) => {
          wake = ok;
          setTimeout(ok, 1000);
        });
        continue;
      }
      const [what, state, caller] = seen.shift();
      console.log(`${what} ${state}${what === "phone" && state === "ringing" ? ` ${caller}` : ""}`);
      if (what === "agent") {
        agent = state;
        continue;
      }
      if (phone === "talking" && state !== "talking") console.log(`ended ${++ended}`);
      phone = state;
      if (state === "ringing") {
        await page.waitForTimeout(500);
        await page.screenshot({ path: `${SHOTS}/softphone-follow-ringing-${++answered}.png`, fullPage: true });
        await page.keyboard.press("Alt+A");
      }
    }
    await page.screenshot({ path: `${SHOTS}/softphone-follow-done.png`, fullPage: true });
    console.log(`ok calls ${ended}`);
  },
  close_ringing: async (page) => {
    await page.locator('#sp-state[data-state="ringing"]').waitFor({ timeout: 30000 });
    console.log(`ringing ${await page.locator("#sp-caller").textContent()}`);
    await page.waitForTimeout(1000);
    await page.close();
    console.log("ok closed_ringing");
  },
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${env("MIC_WAV")}`,
    "--autoplay-policy=no-user-gesture-required",
  ],
});
let code = 0;
try {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "zh-CN" });
  // The test's tone must reach the caller as it is: no echo cancelling, noise suppression
  // or gain control on the fake microphone.
  await ctx.addInitScript(() => {
    const md = navigator.mediaDevices;
    const gum = md.getUserMedia.bind(md);
    md.getUserMedia = () =>
      gum({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  });
  const page = await ctx.newPage();
  await page.goto(`${BASE}/login`);
  await page.fill('input[name="name"]', env("AGENT"));
  await page.fill('input[name="password"]', env("PASSWORD"));
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  await page.goto(`${BASE}/console/desk`);
  await page.locator("#live:not(.off)").waitFor({ timeout: 10000 });
  await page.locator('#sp-state[data-state="idle"]').waitFor({ timeout: 10000 });
  await page.click("#btn-ready");
  await page.locator('#my-state[data-state="ready"]').waitFor({ timeout: 10000 });
  console.log("ready");
  if (LIFECYCLE[MODE]) {
    await LIFECYCLE[MODE](page);
    await browser.close();
    process.exit(0);
  }

  await page.locator('#sp-state[data-state="ringing"]').waitFor({ timeout: 30000 });
  await page.locator("#sp-caller", { hasText: env("CALLER") }).waitFor({ timeout: 5000 });
  await page.locator("#pop-caller", { hasText: env("CALLER") }).waitFor({ timeout: 10000 });
  await page.screenshot({ path: `${SHOTS}/softphone-ringing.png`, fullPage: true });
  await page.keyboard.press("Alt+A");
  await page.locator('#sp-state[data-state="talking"]').waitFor({ timeout: 10000 });
  console.log("talking");

  if (MODE === "talk") {
    await page.waitForTimeout(1500);
    // What the page plays from the caller: its loudest pitch over half a second.
    const [freq, level] = await page.evaluate(async () => {
      const stream = document.getElementById("sp-audio").srcObject;
      const ac = new AudioContext();
      const an = ac.createAnalyser();
      an.fftSize = 8192;
      ac.createMediaStreamSource(stream).connect(an);
      const bins = new Float32Array(an.frequencyBinCount);
      const peaks = new Map();
      let loudest = -Infinity;
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 50));
        an.getFloatFrequencyData(bins);
        let best = 0;
        for (let b = 1; b < bins.length; b++) if (bins[b] > bins[best]) best = b;
        const f = Math.round((best * ac.sampleRate) / an.fftSize);
        peaks.set(f, (peaks.get(f) || 0) + 1);
        loudest = Math.max(loudest, bins[best]);
      }
      await ac.close();
      const top = [...peaks.entries()].sort((a, b) => b[1] - a[1])[0][0];
      return [top, loudest];
    });
    console.log(`heard ${freq} ${level.toFixed(1)}`);
    // Both level meters move: the microphone's tone out, the caller's tone in.
    const levels = await page.evaluate(() => [
      document.getElementById("sp-level-out").value,
      document.getElementById("sp-level-in").value,
    ]);
    console.log(`meters ${levels[0].toFixed(2)} ${levels[1].toFixed(2)}`);
    if (!(levels[0] > 0.3 && levels[1] > 0.3)) throw new Error(`level meters at ${levels}`);
    await page.screenshot({ path: `${SHOTS}/softphone-talking.png`, fullPage: true });
    // The caller hears the microphone a while longer, then the agent hangs up.
    await page.waitForTimeout(3000);
    await page.click("#sp-hangup");
    await page.locator('#sp-state[data-state="idle"]').waitFor({ timeout: 5000 });
    console.log("ok hung_up");
  } else if (MODE === "close_tab") {
    await page.waitForTimeout(1000);
    await page.screenshot({ path: `${SHOTS}/softphone-before-close.png`, fullPage: true });
    await page.close();
    console.log("ok closed");
  } else if (MODE === "freeze") {
    // A muted operator is quiet, not gone: the call outlasts the server's silence limit.
    await page.keyboard.press("Alt+M");
    await page.waitForTimeout(7000);
    if ((await page.locator("#sp-state").getAttribute("data-state")) !== "talking") {
      throw new Error("a muted call ended");
    }
    await page.keyboard.press("Alt+M");
    console.log(`freeze ${process.pid}`);
    // Runs on once Chromium does: the dead call must be over on the page too.
    await page.locator('#sp-state:not([data-state="talking"])').waitFor({ timeout: 90000 });
    console.log(`ok left ${await page.locator("#sp-state").getAttribute("data-state")}`);
  } else if (MODE === "keys") {
    await page.locator("#sp-keypad:not([hidden])").waitFor({ timeout: 5000 });
    await page.click('#sp-keypad button[data-key="1"]');
    await page.keyboard.press("5");
    await page.keyboard.press("#");
    await page.locator("#sp-keys", { hasText: "15#" }).waitFor({ timeout: 5000 });
    console.log(`keys ${await page.locator("#sp-keys").textContent()}`);
    await page.screenshot({ path: `${SHOTS}/softphone-keys.png`, fullPage: true });
    // 170 ms a key in the browser, then the caller's side: let them all reach the caller.
    await page.waitForTimeout(2000);
    await page.click("#sp-hangup");
    await page.locator('#sp-state[data-state="idle"]').waitFor({ timeout: 5000 });
    if (!(await page.locator("#sp-keypad").isHidden())) throw new Error("keypad still shown");
    console.log("ok keys");
  } else {
    throw new Error(`unknown MODE ${MODE}`);
  }
} catch (e) {
  code = 1;
  console.log(`FAIL softphone: ${e.message}`);
}
await browser.close();
process.exit(code);
