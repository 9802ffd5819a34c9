// The dashboard in a real headless Chromium, on the fleet `tests/dashboard.rs` runs: AAPL
// and MSFT daily trained and forecast by `boltfleet demo`, two dead jobs (one whose error
// holds `<script>`), an operator token. Run by that test with DASHBOARD_URL, DASHBOARD_TOKEN
// and SCREENSHOT_DIR set; CHROMIUM defaults to Debian's. The tests run in order, on one page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { chromium } from "playwright-core";

const base = process.env.DASHBOARD_URL;
const token = process.env.DASHBOARD_TOKEN;
const shots = process.env.SCREENSHOT_DIR;
let browser;
let page;
const offsite = [];
const consoleErrors = [];
const dialogs = [];

before(async () => {
  assert.ok(base && token && shots, "DASHBOARD_URL, DASHBOARD_TOKEN and SCREENSHOT_DIR are set");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
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

/// The `points` of the polylines under `selector` that hold at least two points.
const drawnLines = (selector) =>
  page.locator(selector).evaluateAll((lines) =>
    lines.map((line) => (line.getAttribute("points") || "").trim()).filter((points) => points.split(" ").length >= 2),
  );

test("the overview lists every pair and filters them from the URL", async () => {
  await page.goto(`${base}/`);
  const rows = page.locator("#pairs tbody tr");
  assert.equal(await rows.count(), 2, "AAPL and MSFT daily");
  assert.match(await rows.first().innerText(), /BULLISH|BEARISH|NEUTRAL/, "with their last forecast");
  await shot("overview");
  await page.fill('input[name="symbol"]', "aa");
  await page.click('button[type="submit"]');
  await page.waitForURL(/symbol=aa/);
  assert.equal(await rows.count(), 1, "only AAPL is left");
  assert.match(await rows.first().innerText(), /AAPL/);
  await page.reload();
  assert.equal(await rows.count(), 1, "the filter lives in the URL");
});

test("a symbol's composite follows the weights set in the page", async () => {
  await page.goto(`${base}/`);
  await page.click("text=AAPL");
  await page.waitForURL(/\/symbol\/AAPL/);
  assert.match(await page.locator("#consensus").innerText(), /d1 (BULLISH|BEARISH|NEUTRAL)/, "the badge");
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
  assert.match(await page.locator("section.card").first().innerText(), /RF \d+ % \/ GB \d+ %/, "the ensemble weights");
});

test("the model page draws its charts and lists its forecasts", async () => {
  await page.goto(`${base}/pair/AAPL/d1`);
  assert.ok((await page.locator("#history circle").count()) >= 1, "the history plots the run");
  assert.ok((await drawnLines("#reliability polyline")).length >= 1, "the reliability diagram has data");
  const curves = await drawnLines("#equity polyline.curve");
  assert.equal(curves.length, 3, "long-short, long-only and buy-and-hold equity curves");
  const box = await page.locator("#equity").boundingBox();
  assert.ok(box && box.width > 100 && box.height > 50, "the chart takes room on the page");
  assert.ok((await page.locator("#live tbody tr").count()) >= 1, "the demo's forecast is listed");
  await shot("model");
  await page.click("#files >> text=manifest");
  await page.waitForURL(/\/artifacts\/file/);
  const manifest = JSON.parse(await page.locator("#content").innerText());
  assert.equal(manifest.symbol, "AAPL");
  assert.ok(manifest.payload_sha256.length === 64, "the manifest names its payload's hash");
  await shot("manifest");
});

test("the artifacts browse down to a model and download its manifest", async () => {
  await page.goto(`${base}/artifacts`);
  for (const folder of ["models/", "AAPL/", "d1/"]) {
    await page.click(`#listing a:text-is("${folder}")`);
  }
  const versions = page.locator("#listing tr.folder a");
  assert.ok((await versions.count()) >= 1, "a version folder");
  assert.equal(await page.locator('#listing tr.file a:text-is("latest.json")').count(), 1);
  await versions.first().click();
  const sizes = await page.locator("#listing tr.file td.num").allInnerTexts();
  assert.equal(sizes.length, 2, "manifest.json and model.bin");
  assert.ok(sizes.every((size) => /^\d+(\.\d)? (B|KiB|MiB)$/.test(size)), `sizes: ${sizes}`);
  await shot("artifacts");
  const row = page.locator("#listing tr.file", { hasText: "manifest.json" });
  const [download] = await Promise.all([page.waitForEvent("download"), row.locator("a.download").click()]);
  assert.equal(download.suggestedFilename(), "manifest.json");
  const saved = JSON.parse(await readFile(await download.path(), "utf8"));
  assert.equal(saved.timeframe, "d1", "the downloaded manifest is whole");
});

test("a dead job's error is shown as text, and an operator retries and deletes", async () => {
  await page.goto(`${base}/queue`);
  const rows = page.locator("#dead tbody tr");
  assert.equal(await rows.count(), 2, "two dead jobs");
  const errors = await page.locator("#dead td.error").allInnerTexts();
  assert.ok(errors.some((error) => error.includes("<script>alert('owned')</script>")), `errors: ${errors}`);
  assert.deepEqual(dialogs, [], "no script ran");
  assert.equal(await page.locator("#dead button").count(), 0, "no action before the token is given");
  await page.fill('input[name="token"]', token);
  await page.click("text=Unlock actions");
  await page.waitForSelector("#dead button");
  await shot("queue");
  await rows.filter({ hasText: "<script>" }).locator("button", { hasText: "Retry" }).click();
  await page.waitForURL(/\/queue$/);
  assert.equal(await rows.count(), 1, "the retried job left the dead");
  await rows.first().locator("button", { hasText: "Delete" }).click();
  await page.waitForURL(/\/queue$/);
  assert.equal(await rows.count(), 0, "the deleted job is gone");
  assert.match(await page.locator("#depth").innerText(), /1\s+waiting/, "the retried job waits");
});

test("the runs page lists the demo's runs", async () => {
  await page.goto(`${base}/runs`);
  assert.equal(await page.locator("#runs tbody tr").count(), 2, "two succeeded runs");
  await shot("runs");
});

test("no request left localhost and the console stayed clean", () => {
  assert.deepEqual(offsite, []);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(dialogs, []);
});
