import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { openDashboard, watchErrors } from './helpers/browser.ts';

const TOKEN = 'dashboard-test-token-4711';

test('with API_TOKEN set the page loads, its API calls fail until the token is entered, then all carry it, live events and the model download included', { timeout: 90_000 }, async (t) => {
  const { stack, browser } = await openDashboard(t, 'dash-token', { env: { API_TOKEN: TOKEN } });
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const res = await fetch(`${stack.url}/experiments`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ name: 'token-check', dataset: 'mnist', model: 'mlp', training: { epochs: 1, trainLimit: 100 } }),
  });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };

  const page = await browser.newPage();
  const errors = watchErrors(page);
  const apiCalls: { url: string; status: number; auth: string | undefined }[] = [];
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (/^\/(experiments|sweeps|presets)/.test(path)) apiCalls.push({ url: path, status: r.status(), auth: r.request().headers()['authorization'] });
  });

  const index = await page.goto(`${stack.url}/`);
  assert.equal(index?.status(), 200, 'the page itself needs no token');
  await page.locator('#banner:not([hidden])').waitFor({ timeout: 10_000 });
  assert.match((await page.locator('.section-error').first().textContent()) ?? '', /token/i);
  assert.ok(apiCalls.length > 0 && apiCalls.every((c) => c.status === 401 && c.auth === undefined), JSON.stringify(apiCalls));
  assert.equal(await page.locator('#token-form').getAttribute('class'), 'token needs-token');

  await page.locator('#token-input').fill(TOKEN);
  await page.locator('#token-form button').click();
  await page.locator(`.runs-table tr[data-run="${id}"]`).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#banner').isHidden(), true);
  assert.equal(await page.evaluate(() => localStorage.getItem('quantlab.apiToken')), TOKEN, 'kept in the browser');

  // After a reload the stored token is used at once; the run page's live stream (fetch SSE) carries it too.
  apiCalls.length = 0;
  // (A fresh load rather than a hash change plus reload: the reload would abort the first event stream mid-setup.)
  await page.goto('about:blank');
  await page.goto(`${stack.url}/#/runs/${id}`);
  await page.locator('.page-head h1').filter({ hasText: 'token-check' }).waitFor();
  for (let i = 0; i < 100 && !apiCalls.some((c) => c.url.endsWith('/events')); i++) await page.waitForTimeout(100);
  const events = apiCalls.find((c) => c.url.endsWith('/events'));
  assert.equal(events?.status, 200);
  assert.ok(apiCalls.every((c) => c.status < 400 && c.auth === `Bearer ${TOKEN}`), JSON.stringify(apiCalls));

  // A worker picks the run up: the page follows it live to the end, and the model downloads as a blob with the token.
  stack.startWorker();
  await page.locator('.page-head .badge[data-status="completed"]').waitFor({ timeout: 40_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
  const run = (await (await fetch(`${stack.url}/experiments/${id}`, { headers: auth })).json()) as { artifact: { bytes: number } };
  assert.equal(readFileSync(await download.path()).length, run.artifact.bytes);
  const artifactCall = apiCalls.find((c) => c.url.endsWith('/artifact'));
  assert.deepEqual(artifactCall, { url: `/experiments/${id}/artifact`, status: 200, auth: `Bearer ${TOKEN}` });
  assert.ok(apiCalls.every((c) => c.status < 400 && c.auth === `Bearer ${TOKEN}`), JSON.stringify(apiCalls));

  // Chromium logs each refused call as a console error; anything else is a bug.
  assert.deepEqual(errors.filter((e) => !/status of 401/.test(e)), []);
});

test('the Queue link opens Bull Board in the browser with the saved token (a short-lived cookie), and not without it', { timeout: 60_000 }, async (t) => {
  const { stack, browser } = await openDashboard(t, 'dash-queue', { env: { API_TOKEN: TOKEN } });
  const page = await browser.newPage();
  await page.goto(`${stack.url}/`);
  // Without a token the link stays on the dashboard and asks for one.
  await page.locator('#queues-link').click();
  await page.locator('#banner:not([hidden])').waitFor({ timeout: 10_000 });
  assert.equal(new URL(page.url()).pathname, '/');
  const direct = await page.goto(`${stack.url}/admin/queues`);
  assert.equal(direct?.status(), 401);

  await page.goto(`${stack.url}/`);
  await page.locator('#token-input').fill(TOKEN);
  await page.locator('#token-form button').click();
  await Promise.all([page.waitForURL(/\/admin\/queues$/), page.locator('#queues-link').click()]);
  // Bull Board's own page renders the queue, its API calls authorized by the cookie alone.
  await page.getByText(stack.env.QUEUE_NAME).first().waitFor({ timeout: 15_000 });
  const cookies = await page.context().cookies();
  assert.deepEqual(cookies.map((c) => [c.name, c.path, c.httpOnly, c.sameSite]), [['quantlab_admin', '/admin', true, 'Strict']]);
});
