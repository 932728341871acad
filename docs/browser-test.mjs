// The API reference as a reader meets it, in headless Chromium: the page a
// running ledger serves at /docs renders the description, shows the body of
// POST /v1/reimbursements field by field, lets "Try it out" call the ledger
// with a bearer token, and never asks another origin for anything.
//
// Run by scripts/docs-browser-test (`go tool task docs:browser-test`), which
// starts the ledger and sets:
//   LEDGER_URL   the ledger, such as http://127.0.0.1:18123
//   CHROMIUM     the Chromium to drive (Debian's /usr/bin/chromium)
//   SCREENSHOTS  where to save the screenshots
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.LEDGER_URL;
const origin = new URL(base).origin;
const screenshots = process.env.SCREENSHOTS;

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) {
    passed++;
    console.log(`ok    ${name}`);
  } else {
    failed++;
    console.log(`FAIL  ${name}${detail ? `: ${detail}` : ''}`);
  }
}

// A closed network answers anything that reaches out slowly or not at all:
// Chromium's own background traffic is turned off, as on this project's machines.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1400 } });
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(`${base}/docs`, { waitUntil: 'networkidle' });
  const submit = page.locator('#operations-Members-submitReimbursement');
  await submit.waitFor({ timeout: 30_000 });

  // The description is rendered, not shown as Markdown source.
  const headings = await page.locator('.information-container .info h2').allInnerTexts();
  check('the description renders its Markdown headings', headings.includes('Conventions') && headings.includes('Errors'), JSON.stringify(headings));
  const body = await page.locator('body').innerText();
  check('no Markdown source on the page', !body.includes('## Conventions'));
  await page.screenshot({ path: join(screenshots, 'docs.png') });

  // POST /v1/reimbursements, opened: its request body, example and schema.
  await submit.locator('.opblock-summary-control').click();
  const requestBody = submit.locator('.opblock-section-request-body');
  await requestBody.waitFor({ timeout: 10_000 });
  const example = await requestBody.innerText();
  for (const field of ['bank_account_id', 'amount', 'description']) {
    check(`POST /v1/reimbursements shows ${field} in its example body`, example.includes(`"${field}"`), example.slice(0, 300));
  }
  await requestBody.locator('button[data-name="model"]').click();
  await requestBody.locator('.model-box').waitFor({ timeout: 10_000 });
  await requestBody.locator('.model-box .model-toggle.collapsed').first().click().catch(() => {});
  const schema = await requestBody.innerText();
  for (const field of ['bank_account_id', 'amount', 'description']) {
    check(`POST /v1/reimbursements shows ${field} in its schema`, schema.includes(field), schema.slice(0, 300));
  }
  await submit.evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: join(screenshots, 'submit-reimbursement.png') });

  // Try it out: an auditor's token from the development issuer, entered in
  // "Authorize", and the feed read through the page.
  const res = await fetch(`${base}/v1/dev/tokens`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ role: 'auditor' }),
  });
  const { access_token: token } = await res.json();
  await page.locator('.scheme-container .btn.authorize').click();
  const dialog = page.locator('.dialog-ux');
  await dialog.locator('input').first().fill(token);
  await dialog.locator('.auth-btn-wrapper .authorize').click();
  await dialog.locator('.auth-btn-wrapper .btn-done').click();
  const events = page.locator('#operations-Auditors-listEvents');
  await events.locator('.opblock-summary-control').click();
  await events.locator('.try-out__btn').click();
  await events.locator('.execute').click();
  const status = events.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor({ timeout: 15_000 });
  const code = (await status.innerText()).trim();
  check('"Try it out" with the bearer token reads GET /v1/events', code === '200', `status ${code}`);
  check('"Try it out" called this ledger', requests.some((u) => u.startsWith(`${origin}/v1/events`)),
    requests.filter((u) => u.includes('/v1/events')).join(', '));

  check('the description came from this ledger', requests.includes(`${origin}/v1/openapi.yaml`));
  const elsewhere = requests.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin);
  check(`no request left ${origin} (${requests.length} made)`, elsewhere.length === 0, elsewhere.join(', '));
  const blocked = errors.filter((e) => /Content Security Policy|Refused to/i.test(e));
  check('nothing was refused by the page\'s Content-Security-Policy', blocked.length === 0, blocked.join(' | '));
  check('no script errors', errors.length === 0, errors.join(' | '));
} finally {
  await browser.close();
}
console.log(`screenshots: ${join(screenshots, 'docs.png')}, ${join(screenshots, 'submit-reimbursement.png')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
