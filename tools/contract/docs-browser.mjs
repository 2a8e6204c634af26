// /docs in a real browser: Debian's Chromium, headless, driven by puppeteer-core
// (pinned; it drives the browser, it downloads none). A frontend developer's
// first visit:
//   - the page loads everything from this origin and nothing else, with no CSP
//     violation, no script error and no failed request;
//   - the vendored Swagger UI is byte for byte the pinned npm package;
//   - every operation of the served document is listed, path parameters given
//     by $ref are shown, the hold's request body shows its schema;
//   - try-it-out works against the same server: a list, a path parameter, a
//     JSON request body (login), then Authorize with the token and an
//     authenticated call.
// Usage: node docs-browser.mjs BASE_URL   (the server was seeded: `ticketd seed`)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const base = process.argv[2];
if (!base) { console.error('usage: node docs-browser.mjs BASE_URL'); process.exit(2); }
const origin = new URL(base).origin;
const here = path.dirname(fileURLToPath(import.meta.url));
const failures = [];
const fail = m => { failures.push(m); console.log(`FAIL ${m}`); };
const ok = m => console.log(`ok   ${m}`);

// ---- the vendored files are the pinned package's ----------------------------------------------
const pinned = JSON.parse(fs.readFileSync(path.join(here, 'node_modules/swagger-ui-dist/package.json'), 'utf8')).version;
for (const f of ['swagger-ui-bundle.js', 'swagger-ui-bundle.js.LICENSE.txt', 'swagger-ui.css', 'favicon-32x32.png', 'LICENSE', 'NOTICE']) {
  const vendored = fs.readFileSync(path.join(here, '../../third_party/swagger-ui', f));
  const upstream = fs.readFileSync(path.join(here, 'node_modules/swagger-ui-dist', f));
  if (!vendored.equals(upstream)) fail(`third_party/swagger-ui/${f} differs from swagger-ui-dist ${pinned} (run tools/contract/vendor-swagger-ui)`);
  else ok(`third_party/swagger-ui/${f} is swagger-ui-dist ${pinned}'s`);
}
const served = await (await fetch(`${base}/docs/swagger-ui-bundle.js`)).arrayBuffer();
if (!Buffer.from(served).equals(fs.readFileSync(path.join(here, 'node_modules/swagger-ui-dist/swagger-ui-bundle.js')))) {
  fail('GET /docs/swagger-ui-bundle.js is not the pinned bundle');
}

const doc = await (await fetch(`${base}/api/v1/openapi.json`)).json();
const expected = []; // one Swagger UI block per (tag, operation)
let holdId;
for (const [template, item] of Object.entries(doc.paths)) {
  for (const method of ['get', 'put', 'post', 'delete', 'patch']) {
    const op = item[method];
    if (!op) continue;
    for (const tag of op.tags ?? ['default']) expected.push(`operations-${tag}-${op.operationId}`);
    if (method === 'post' && template === '/api/v1/reservations/hold') holdId = `operations-${op.tags[0]}-${op.operationId}`;
  }
}
const events = (await (await fetch(`${base}/api/v1/events`)).json()).items;
if (!events?.length) throw new Error('no events: was the server seeded?');

// ---- the browser ------------------------------------------------------------------------------
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ticketd-docs-browser-'));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  userDataDir: profile,
  // No sandbox as root (CI); no background networking (the closed network refuses it).
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  env: { ...process.env, HOME: profile },
});
const T = 60_000;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(T);
  await page.evaluateOnNewDocument(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation',
      e => window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`));
  });
  const foreign = [];
  const failed = [];
  const errors = [];
  page.on('request', r => { const u = r.url(); if (!u.startsWith('data:') && new URL(u).origin !== origin) foreign.push(u); });
  page.on('requestfailed', r => failed.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', r => { if (r.status() >= 400 && !r.url().includes('/api/v1/') ) failed.push(`${r.url()}: ${r.status()}`); });
  page.on('pageerror', e => errors.push(String(e)));
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });

  await page.goto(`${base}/docs`, { waitUntil: 'load' });
  await page.waitForFunction(n => document.querySelectorAll('.opblock').length >= n, {}, expected.length);
  const rendered = await page.$$eval('.opblock', els => els.map(e => e.id));
  const missing = expected.filter(id => !rendered.includes(id));
  if (missing.length || rendered.length !== expected.length) {
    fail(`rendered ${rendered.length} operation blocks, expected ${expected.length}; missing: ${missing.join(', ')}`);
  } else ok(`all ${expected.length} operations listed`);

  const block = id => `[id="${id}"]`;
  async function open(id) {
    await page.click(`${block(id)} .opblock-summary-control`);
    await page.waitForSelector(`${block(id)} .opblock-body`);
  }
  async function tryItOut(id, { params = {}, body } = {}) {
    await page.click(`${block(id)} .try-out__btn`);
    for (const [name, value] of Object.entries(params)) {
      const input = `${block(id)} tr[data-param-name="${name}"] input`;
      await page.waitForSelector(input);
      await page.type(input, value);
    }
    if (body !== undefined) {
      const area = `${block(id)} textarea.body-param__text`;
      await page.waitForSelector(area);
      await page.$eval(area, el => { el.value = ''; });
      await page.click(area, { clickCount: 3 });
      await page.keyboard.press('Backspace');
      await page.type(area, JSON.stringify(body));
    }
    await page.click(`${block(id)} button.execute`);
    const status = `${block(id)} .live-responses-table tbody .response-col_status`;
    await page.waitForSelector(status);
    return {
      status: (await page.$eval(status, el => el.textContent.trim())).slice(0, 3),
      url: await page.$eval(`${block(id)} .request-url pre`, el => el.textContent.trim()),
      body: await page.$eval(`${block(id)} .live-responses-table tbody .response-col_description`, el => el.textContent),
    };
  }

  // Path parameters given by $ref are shown (getEvent's eventId).
  await open('operations-catalog-getEvent');
  if (!(await page.$(`${block('operations-catalog-getEvent')} tr[data-param-name="eventId"]`))) fail('getEvent shows no eventId parameter');
  else ok('getEvent shows its $ref path parameter eventId');

  // The hold's request body: its schema, with seatIds.
  await open(holdId);
  const requestBody = `${block(holdId)} .opblock-section-request-body`;
  await page.click(`${requestBody} button.tablinks[data-name="model"]`);
  await page.waitForSelector(`${requestBody} .model-box`);
  const schemaText = await page.$eval(`${requestBody} .model-box`, el => el.textContent);
  if (!schemaText.includes('seatIds')) fail(`the hold's request body schema does not show seatIds: ${schemaText.slice(0, 300)}`);
  else ok("the hold's request body schema shows seatIds");
  const responsesText = await page.$eval(`${block(holdId)} .responses-inner`, el => el.textContent);
  for (const code of ['201', '409']) {
    if (!responsesText.includes(code)) fail(`the hold's responses do not show ${code}`);
  }
  if (responsesText.includes('#/components/responses/')) fail('a referenced response is shown as a raw $ref');

  // Try-it-out against this server.
  await open('operations-catalog-listEvents');
  let r = await tryItOut('operations-catalog-listEvents');
  if (r.status !== '200' || !r.url.startsWith(`${origin}/api/v1/events`) || !r.body.includes(events[0].eventId)) {
    fail(`try-it-out listEvents: ${r.status} ${r.url} ${r.body.slice(0, 200)}`);
  } else ok(`try-it-out listEvents → 200 from ${r.url}`);

  r = await tryItOut('operations-catalog-getEvent', { params: { eventId: events[0].eventId } });
  if (r.status !== '200' || r.url !== `${origin}/api/v1/events/${events[0].eventId}` || !r.body.includes(events[0].title ?? events[0].eventId)) {
    fail(`try-it-out getEvent: ${r.status} ${r.url} ${r.body.slice(0, 200)}`);
  } else ok(`try-it-out getEvent (path parameter) → 200 from ${r.url}`);

  await open('operations-auth-login');
  r = await tryItOut('operations-auth-login',
    { body: { email: 'user@ticketd.local', password: 'ticketd-user-dev', captchaToken: 'test-pass' } });
  const token = /"accessToken":\s*"([^"]+)"/.exec(r.body)?.[1];
  if (r.status !== '200' || !token) fail(`try-it-out login: ${r.status} ${r.body.slice(0, 300)}`);
  else ok('try-it-out login (JSON request body) → 200 with an access token');

  if (token) {
    await page.click('.auth-wrapper .authorize');
    const input = '.auth-container input[type="text"], .auth-container input[type="password"]';
    await page.waitForSelector(input);
    await page.type(input, token);
    await page.click('.auth-container .modal-btn.authorize');
    await page.click('.modal-ux .close-modal');
    await open('operations-auth-getMe');
    r = await tryItOut('operations-auth-getMe');
    if (r.status !== '200' || !r.body.includes('user@ticketd.local')) fail(`try-it-out getMe after Authorize: ${r.status} ${r.body.slice(0, 300)}`);
    else ok('Authorize with the token, try-it-out getMe → 200');
  }

  const csp = await page.evaluate(() => window.__csp);
  if (csp.length) fail(`CSP violations: ${csp.join('; ')}`); else ok('no CSP violation');
  if (foreign.length) fail(`requests outside ${origin}: ${foreign.join(', ')}`); else ok(`nothing loaded from outside ${origin}`);
  if (failed.length) fail(`failed requests: ${failed.join('; ')}`);
  if (errors.length) fail(`script errors: ${errors.join('; ')}`); else ok('no script error');
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
if (failures.length) { console.log(`${failures.length} failure(s)`); process.exit(1); }
console.log('docs page: all checks passed');
