// The console, driven in Debian's chromium by playwright-core (no
// browser download), against the berth serve that console_test.go
// started. It asserts on what a person sees: text and states.
//
// Environment: BERTH_URL, BERTH_TOKEN, ADDON_ZIP (the tagger addon
// zipped), ITEM_FILE (a file to attach), ARTIFACTS (screenshots dir).
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";

const { BERTH_URL, BERTH_TOKEN, ADDON_ZIP, ITEM_FILE, ARTIFACTS } = process.env;
const profile = mkdtempSync(join(tmpdir(), "berth-e2e-chromium-"));
// A fresh profile (--user-data-dir, which playwright passes for a
// persistent context) for every run.
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1100, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const step = (name) => console.log("step:", name);
let failed = false;
const requests = [];
try {
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.setDefaultTimeout(30000);
  page.on("request", (r) => requests.push(r.url()));
  page.on("pageerror", (e) => { console.log("page error:", e.message); failed = true; });
  const shot = async (name) => page.screenshot({ path: join(ARTIFACTS, name + ".png"), fullPage: true });
  const see = async (text, where = page) => where.getByText(text, { exact: false }).first().waitFor();

  step("the console asks for the token, and refuses a wrong one");
  await page.goto(BERTH_URL + "/");
  await page.getByLabel("API token").fill("not-the-token-000000");
  await page.getByRole("button", { name: "Log in" }).click();
  await see("The token was refused.");
  await page.getByLabel("API token").fill(BERTH_TOKEN);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Runs" }).waitFor();
  await see("No run matches.");

  step("install an addon by uploading its zip");
  await page.getByRole("link", { name: "Addons", exact: true }).click();
  await see("No addon is installed yet.");
  await page.getByLabel("Upload a zip").check();
  await page.getByLabel("Zip file").setInputFiles(ADDON_ZIP);
  await page.getByRole("button", { name: "Install" }).click();
  await see("Installed tagger-1.0.");
  const card = page.locator("section.addon[data-addon=tagger]");
  await see("Tags the item with its user input", card);
  assert.match(await card.locator(".can-run").innerText(), /trivial/, "the card says what can run it here");
  assert.match(await card.innerText(), /pure \(no network/);
  await shot("addons");

  step("create a run configuration, with a schedule preview");
  await page.getByRole("link", { name: "Configurations", exact: true }).click();
  await page.getByRole("link", { name: "New configuration" }).click();
  await page.getByLabel("Name", { exact: true }).fill("tag invoices");
  await page.getByLabel("scheduled", { exact: true }).check();
  await page.getByLabel(/^Schedule/).fill("@every 1h");
  await see("Next firings:");
  const firings = await page.locator("#schedule-preview li").count();
  assert.equal(firings, 6, "five firings under the heading");
  await page.getByLabel(/^Schedule/).fill("61 * * * *");
  await see("is not a cron expression");
  await page.getByLabel(/^Schedule/).fill("");
  await page.getByLabel("scheduled", { exact: true }).uncheck();
  await page.getByRole("button", { name: "Add an addon" }).click();
  await page.getByLabel("User input (args)").fill("invoice");
  await page.getByRole("button", { name: "Create" }).click();
  await see("Saved tag invoices.");
  await shot("config");

  step("run it now on an item with a file; follow it to success");
  await page.getByLabel("Item data (JSON, optional)").fill('{"id": "item-1", "name": "Invoice 7"}');
  await page.getByLabel("Original files").setInputFiles(ITEM_FILE);
  await page.getByRole("button", { name: "Run now" }).click();
  await page.getByRole("heading", { name: /^Run run_/ }).waitFor();
  await page.locator("h1 .state-succeeded").waitFor();
  await see("add tags: INVOICE");
  await see("set field checked to yes");
  const logs = await page.locator("#logs").innerText();
  assert.match(logs, /tagging with invoice/, "the logs show the addon's stderr");
  assert.match(logs, /original: scan/, "the addon saw the uploaded file");
  assert.match(await page.locator("#input-files").innerText(), /original: scan\.txt/);
  assert.match(await page.locator("#input-item").innerText(), /Invoice 7/);
  assert.match(await page.locator("#facts").innerText(), /tag invoices/, "the configuration by name");
  assert.match(await page.locator("#attempts").innerText(), /trivial[\s\S]*success/);
  const firstRun = page.url().split("/").pop();
  await shot("run-succeeded");

  step("cancel a long run");
  await page.goto(BERTH_URL + "/ui/configs");
  await page.locator("tr[data-config='tag invoices']").getByRole("button", { name: "Run now" }).click();
  await page.getByLabel("Item data (JSON, optional)").fill('{"id": "item-2", "note": "slow"}');
  await page.getByRole("button", { name: "Run now" }).click();
  await page.locator("h1 .state-running").waitFor();
  // Live lines need the streaming endpoint (GET /v1/runs/{id}/logs?follow=true);
  // before it, a running run's logs come when its attempt ends.
  if ((await page.locator("#logs-mode").innerText()).includes("live")) {
    await see("a slow item: sleeping", page.locator("#logs"));
  } else {
    console.log("note: the daemon has no streaming logs: the page polls");
  }
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.locator("h1 .state-cancelled").waitFor();
  await shot("run-cancelled");

  step("the runs list: names, filters, durations, re-run");
  await page.getByRole("link", { name: "Runs", exact: true }).click();
  const rows = page.locator("#runs tbody tr");
  await rows.nth(1).waitFor();
  assert.equal(await rows.count(), 2);
  const listText = await page.locator("#runs").innerText();
  assert.match(listText, /tag invoices/, "configuration names, not ids");
  assert.doesNotMatch(listText, /rc_[0-9a-f]{8}/);
  assert.match(listText, /cancelled/);
  assert.match(listText, /\d+(\.\d+)? (ms|s)/, "durations");
  await page.getByLabel("State", { exact: true }).selectOption("succeeded");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/state=succeeded/);
  await page.locator(`#runs tr[data-run='${firstRun}']`).waitFor();
  // The filtered list replaces the full one: wait until the cancelled
  // run's row is gone (it may still be on screen just after the URL
  // changed), then there must be exactly one.
  await page.waitForFunction(() => !/cancelled/.test(document.querySelector("#runs")?.innerText ?? "cancelled"), null, { timeout: 10000 });
  assert.equal(await rows.count(), 1);
  await shot("runs");
  await page.locator(`#runs tr[data-run='${firstRun}']`).getByRole("button", { name: "Re-run" }).click();
  await see(`a re-run of ${firstRun}`);
  await page.locator("h1 .state-succeeded").waitFor();
  await see("add tags: INVOICE");
  assert.match(await page.locator("#input-files").innerText(), /scan\.txt/, "the re-run had the same file");
  const rerun = page.url().split("/").pop();
  assert.notEqual(rerun, firstRun);

  step("the list refreshes itself: a run made elsewhere appears without a reload");
  await page.goto(BERTH_URL + "/ui/runs?state=succeeded");
  await page.locator(`#runs tr[data-run='${rerun}']`).waitFor();
  const before = await rows.count();
  const made = await page.evaluate(async ([token]) => {
    const cfgs = await (await fetch("/v1/run-configs", { headers: { Authorization: "Bearer " + token } })).json();
    const r = await fetch("/v1/runs", { method: "POST", headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" }, body: JSON.stringify({ configId: cfgs.runConfigs[0].id }) });
    return (await r.json()).id;
  }, [BERTH_TOKEN]);
  await page.locator(`#runs tr[data-run='${made}']`).waitFor({ timeout: 20000 });
  assert.equal(await rows.count(), before + 1);

  step("phone width: the run page and the runs list fit");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(BERTH_URL + "/ui/runs/" + firstRun);
  await see("add tags: INVOICE");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the run page is ${overflow}px wider than a phone`);
  await shot("phone-run");
  await page.goto(BERTH_URL + "/ui/runs");
  await rows.first().waitFor();
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth) <= 1, "the runs list fits a phone");
  await shot("phone-runs");

  step("keyboard: the sections are reached with Tab and opened with Enter");
  await page.goto(BERTH_URL + "/ui/runs");
  await rows.first().waitFor();
  let reached = false;
  for (let i = 0; i < 8 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement && document.activeElement.textContent === "Addons");
  }
  assert.ok(reached, "Tab reaches the Addons link");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Addons" }).waitFor();

  step("no request left berth");
  const origin = new URL(BERTH_URL).origin;
  const foreign = requests.filter((u) => !u.startsWith(origin) && !u.startsWith("blob:") && !u.startsWith("data:"));
  assert.deepEqual(foreign, [], "every request goes to berth");
  console.log(`ok: ${requests.length} requests, all to berth`);
} catch (e) {
  failed = true;
  console.log("FAILED:", e.stack || e.message);
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
