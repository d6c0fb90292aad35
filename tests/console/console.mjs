// The console in a real browser (Debian's chromium driven by playwright-core).
// The Rust test (tests/e2e/console.rs) starts a server, runs workflows and
// passes what to look for in the environment; any failed check exits 1.
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("CAIRN_URL");
const check = (ok, what) => {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
};

const browser = await chromium.launch({ executablePath: env("CHROMIUM"), args: ["--no-sandbox", "--headless=new"] });
try {
  const page = await browser.newPage();
  page.on("dialog", (dialog) => dialog.accept()); // the confirmations

  // Signed out: sent to sign in; a wrong token is refused with its code.
  await page.goto(`${base}/console`);
  check(page.url().endsWith("/console/sign-in"), "an anonymous visitor is sent to sign in");
  await page.fill("input[name=token]", "cairn_nope_nope");
  await page.click("button:has-text('Sign in')");
  check((await page.textContent(".error")).includes("CAIRN-E028"), "a wrong token is refused with CAIRN-E028");

  await page.fill("input[name=token]", env("TOKEN_A"));
  await page.click("button:has-text('Sign in')");
  check(page.url().endsWith("/console/executions"), "signed in, on the executions page");
  const rows = await page.locator("#executions tbody tr").count();
  check(rows === Number(env("EXPECTED_ROWS")), `the list shows the tenant's ${env("EXPECTED_ROWS")} executions (saw ${rows})`);
  // Filter by creation time, in the browser's own time zone.
  const local = (ms) => {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 19);
  };
  await page.fill("input[name=from]", local(Date.now() + 3600000));
  await page.click("button:has-text('Filter')");
  check(await page.locator("#executions tbody tr td.empty").count() === 1, "none created from an hour ahead");
  await page.fill("input[name=from]", local(Date.now() - 3600000));
  await page.click("button:has-text('Filter')");
  const recent = await page.locator("#executions tbody tr").count();
  check(recent === Number(env("EXPECTED_ROWS")), `all created within the hour (saw ${recent})`);
  await page.goto(`${base}/console/executions`);
  await page.waitForFunction(() => document.querySelector("[data-count=completed]").textContent !== "…");
  const completed = await page.textContent("[data-count=completed]");
  check(completed.trim() === env("EXPECTED_COMPLETED"), `the completed count is ${env("EXPECTED_COMPLETED")} (saw ${completed})`);

  // Find the chain by id: its timeline has a bar per step.
  await page.fill("input[name=id]", env("CHAIN_ID"));
  await page.click("button:has-text('Find')");
  check(decodeURIComponent(page.url()).endsWith(`/console/executions/${env("CHAIN_ID")}`), "search by id opens the execution");
  const steps = await page.locator("#timeline details.step").count();
  check(steps === Number(env("CHAIN_STEPS")), `the timeline has ${env("CHAIN_STEPS")} steps (saw ${steps})`);
  const bars = await page.locator("#timeline .bar").count();
  check(bars === steps, "every step is a bar");
  await page.locator("#timeline details.step").nth(1).locator("summary").click();
  const payload = await page.locator("#timeline details.step").nth(1).locator("pre").first().textContent();
  check(payload.includes("increment"), "a step opens to show its payload");

  // The waiting approval: signal it from the page, see it complete.
  await page.goto(`${base}/console/executions/${encodeURIComponent(env("WAITING_ID"))}`);
  check((await page.textContent(".badge")).trim() === "sleeping" || (await page.textContent(".badge")).trim() === "running", "the approval waits");
  check((await page.textContent("dl.fields")).includes("signal decision"), "it names the signal it waits for");
  await page.fill("input[name=name]", "decision");
  await page.fill("input[name=payload]", '{"approved": true, "by": "ann"}');
  await page.click("button:has-text('Send signal')");
  let status = "";
  for (let i = 0; i < 100 && status !== "completed"; i++) {
    await page.waitForTimeout(100);
    await page.reload();
    status = (await page.textContent(".badge")).trim();
  }
  check(status === "completed", "the signal sent from the page completes the workflow");
  check((await page.textContent("dl.fields")).includes("approved"), "its output shows");

  // Another tenant's token sees none of it.
  await page.click("button:has-text('sign out')");
  await page.fill("input[name=token]", env("TOKEN_B"));
  await page.click("button:has-text('Sign in')");
  const theirs = await page.locator("#executions tbody tr td.empty").count();
  check(theirs === 1, "tenant B's list is empty");
  const response = await page.goto(`${base}/console/executions/${encodeURIComponent(env("CHAIN_ID"))}`);
  check(response.status() === 404, "tenant B gets 404 for tenant A's execution");
  check((await page.textContent(".error")).includes("CAIRN-E005"), "with the not-found code");
} finally {
  await browser.close();
}
