// The dashboard in a real headless Chromium, on the fleet `dashboard/tests/pages.rs` seeds
// (SEED with a trained model, FAIL with a failed run whose error is `<script>...`). Run by
// that test with DASHBOARD_URL and SCREENSHOT_DIR set; CHROMIUM defaults to Debian's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const base = process.env.DASHBOARD_URL;
const shots = process.env.SCREENSHOT_DIR;
let browser;
let page;
const offsite = [];
const consoleErrors = [];
const dialogs = [];

before(async () => {
  assert.ok(base, "DASHBOARD_URL is set");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("request", (request) => {
    const url = new URL(request.url());
    const network = url.protocol === "http:" || url.protocol === "https:";
    if (network && url.hostname !== "127.0.0.1" && url.hostname !== "localhost") offsite.push(request.url());
  });
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("dialog", async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.dismiss();
  });
});

after(async () => {
  await browser?.close();
});

const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

test("the overview lists every pair and filters them from the URL", async () => {
  await page.goto(`${base}/`);
  const rows = page.locator("#pairs tbody tr");
  assert.equal(await rows.count(), 2);
  await shot("overview");
  await page.fill('input[name="symbol"]', "se");
  await page.click('button[type="submit"]');
  await page.waitForURL(/symbol=se/);
  assert.equal(await rows.count(), 1, "only SEED is left");
  assert.match(await rows.first().innerText(), /SEED/);
});

test("a symbol's composite follows the weights set in the page", async () => {
  await page.goto(`${base}/`);
  await page.click("text=SEED");
  await page.waitForURL(/\/symbol\/SEED/);
  const gauge = page.locator("svg.gauge text").first();
  const before = await gauge.textContent();
  await shot("symbol");
  await page.fill('input[name="wb"]', "1");
  await page.fill('input[name="ww"]', "0");
  await page.fill('input[name="wl"]', "0");
  await page.click('button[type="submit"]');
  await page.waitForURL(/wb=1/);
  const backtest = await page.locator("table.breakdown tbody tr").first().locator("td").nth(1).textContent();
  const after = await gauge.textContent();
  // The gauge shows two decimals, the breakdown three.
  assert.ok(Math.abs(Number(after) - Number(backtest)) <= 0.005 + 1e-9, `all the weight on the backtest: ${after} vs ${backtest}`);
  assert.ok(Number.isFinite(Number(before)), "the default composite was drawn too");
});

test("the model page draws its charts", async () => {
  await page.goto(`${base}/pair/SEED/d1`);
  const points = await page.locator("#history circle").count();
  assert.ok(points >= 1, "the history plots the run");
  const reliability = await page.locator("#reliability polyline").evaluateAll((lines) =>
    lines.map((line) => line.getAttribute("points") || "").filter((points) => points.length > 0),
  );
  assert.ok(reliability.length >= 1, "the reliability diagram has data");
  const box = await page.locator("#history").boundingBox();
  assert.ok(box && box.width > 100 && box.height > 50, "the chart takes room on the page");
  await shot("model");
});

test("a failed job's error is shown as text, never run", async () => {
  await page.goto(`${base}/runs?status=failed`);
  const error = await page.locator("td.error").first().innerText();
  assert.match(error, /<script>alert\('owned'\)<\/script>/);
  assert.deepEqual(dialogs, [], "no script ran");
  await shot("runs");
});

test("no request left localhost and the console stayed clean", () => {
  assert.deepEqual(offsite, []);
  assert.deepEqual(consoleErrors, []);
});
