import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { redact } from '../../agent/config/redact.js';
import { StatusSchema } from '../../agent/config/schema.js';
import { checkAction } from '../../agent/status/auth.js';
import { StatusServer, type StatusActions, type StatusApi } from '../../agent/status/server.js';
import { actionToken } from '../../agent/status/token.js';
import { tempDir, type CleanupHost } from '../helpers/tmp.js';

const log = pino({ level: 'silent' });
const TOKEN = 'x7Gq2LrT9vWm4kPz8sHn';

/** Enough of an agent for the server: every read answers, and counts that it was asked. */
function fakeApi(reads: string[]): StatusApi {
  const note = <T>(what: string, v: T): T => (reads.push(what), v);
  return {
    snapshot: () => note('snapshot', { device: 'gw' } as never),
    readiness: () => note('readiness', { ready: false, reasons: ['sources not started yet: the agent is starting'] }),
    metrics: () => note('metrics', '# HELP edge_agent_up Up.\n# TYPE edge_agent_up gauge\nedge_agent_up 1\n'),
    predictions: (f) => note('predictions', [{ seq: 1, filter: f } as never]),
    prediction: (seq) => note('prediction', seq === 7 ? ({ seq } as never) : undefined),
    events: (q) => note('events', { events: [], kinds: [q.kind ?? 'all'] }),
    history: (q) => note('history', { minutes: q.minutes } as never),
    predictionInput: (seq) => note('predictionInput', seq === 7 ? { mediaType: 'image/jpeg', data: Buffer.from([0xff, 0xd8, 0xff]) } : undefined),
  };
}

async function serve(t: CleanupHost, token: string | undefined, actions?: StatusActions): Promise<{ url: string; reads: string[] }> {
  const reads: string[] = [];
  const server = new StatusServer({ host: '127.0.0.1', port: 0, api: fakeApi(reads), token, log, ...(actions ? { actions } : {}) });
  await server.start();
  t.after(() => server.stop());
  return { url: server.url!, reads };
}

async function post(url: string, authorization?: string): Promise<{ status: number; body: { error?: string; ok?: boolean; result?: unknown }; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: authorization === undefined ? {} : { authorization } });
  return { status: res.status, body: (await res.json()) as { error?: string }, headers: res.headers };
}

test('without a configured token every action is refused with 403, whatever the request carries', async (t) => {
  const { url } = await serve(t, undefined);
  for (const path of ['/api/actions/rollback', '/api/actions/capture', '/api/actions/alarms/drift-1/ack']) {
    for (const auth of [undefined, `Bearer ${TOKEN}`, 'Bearer anything']) {
      const r = await post(url + path, auth);
      assert.equal(r.status, 403, `${path} with ${auth}`);
      assert.equal(r.body.error, 'actions are disabled: no token configured');
    }
  }
});

test('with a token, a missing, malformed or wrong bearer is 401; the right one reaches the action', async (t) => {
  const { url } = await serve(t, TOKEN);
  for (const auth of [undefined, '', TOKEN, `Basic ${TOKEN}`, 'Bearer', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN} extra`]) {
    const r = await post(`${url}/api/actions/rollback`, auth);
    assert.equal(r.status, 401, `refused: ${JSON.stringify(auth)}`);
    assert.match(r.body.error ?? '', /Authorization: Bearer/);
    assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="edge-agent"');
  }
  const ok = await post(`${url}/api/actions/rollback`, `Bearer ${TOKEN}`);
  assert.equal(ok.status, 501, 'authorised, but rollout does not exist yet');
  assert.equal(ok.body.error, 'rollout not available yet');
  assert.equal((await post(`${url}/api/actions/capture`, `bearer  ${TOKEN}`)).status, 501, 'the scheme is case-insensitive');
  assert.equal((await post(`${url}/api/actions/alarms/a1/ack`, `Bearer ${TOKEN}`)).body.error, 'alarms not available yet');
});

test('an action that exists runs once authorised and answers 200 with its result', async (t) => {
  const acked: string[] = [];
  const { url } = await serve(t, TOKEN, { ackAlarm: async (id) => (acked.push(id), { acked: id }) });
  assert.equal((await post(`${url}/api/actions/alarms/drift-7/ack`, 'Bearer nope')).status, 401);
  assert.deepEqual(acked, [], 'refused requests never run the action');
  const r = await post(`${url}/api/actions/alarms/drift-7/ack`, `Bearer ${TOKEN}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { ok: true, result: { acked: 'drift-7' } });
  assert.deepEqual(acked, ['drift-7']);
});

test('GET never acts and other methods are refused: the read-only surface stays read-only', async (t) => {
  const { url, reads } = await serve(t, TOKEN);
  const get = await fetch(`${url}/api/actions/rollback`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const r = await fetch(`${url}/api/status`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 405, `${method} /api/status`);
    assert.equal(r.headers.get('allow'), 'GET, HEAD');
  }
  assert.equal((await post(`${url}/api/actions/reboot`, `Bearer ${TOKEN}`)).status, 404, 'no hidden actions');
  const huge = await fetch(`${url}/api/actions/rollback`, { method: 'POST', body: 'x'.repeat(100_000), headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(huge.status, 413, 'an oversized body is refused before anything else');
  assert.deepEqual(reads, [], 'nothing was even read');
});

test('the read routes answer with the right status, type and query checks', async (t) => {
  const { url } = await serve(t, undefined);
  const ready = await fetch(`${url}/readyz`);
  assert.equal(ready.status, 503);
  assert.deepEqual(await ready.json(), { ready: false, reasons: ['sources not started yet: the agent is starting'] });
  assert.deepEqual(await (await fetch(`${url}/healthz`)).json(), { ok: true });
  const metrics = await fetch(`${url}/metrics`);
  assert.equal(metrics.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const preds = (await (await fetch(`${url}/api/predictions?label=defect&flagged=true&limit=5`)).json()) as { predictions: Array<{ filter: unknown }> };
  assert.deepEqual(preds.predictions[0]?.filter, { label: 'defect', flagged: true, alarm: false, limit: 5 });
  const during = (await (await fetch(`${url}/api/predictions?alarm=true`)).json()) as { predictions: Array<{ filter: unknown }> };
  assert.deepEqual(during.predictions[0]?.filter, { flagged: false, alarm: true, limit: 50 });
  assert.deepEqual(await (await fetch(`${url}/api/predictions?alarm=soon`)).json(), { error: 'alarm must be true or false, got "soon"' });
  const image = await fetch(`${url}/api/predictions/7/input`);
  assert.deepEqual([image.status, image.headers.get('content-type'), image.headers.get('content-security-policy'), [...new Uint8Array(await image.arrayBuffer())]], [200, 'image/jpeg', "default-src 'none'", [0xff, 0xd8, 0xff]]);
  const none = await fetch(`${url}/api/predictions/8/input`);
  assert.deepEqual([none.status, await none.json()], [404, { error: 'no image kept for prediction 8 (only captured inputs are stored)' }]);
  assert.equal((await fetch(`${url}/api/predictions?limit=0`)).status, 400);
  assert.equal((await fetch(`${url}/api/predictions?limit=abc`)).status, 400);
  assert.equal((await fetch(`${url}/api/predictions?flagged=maybe`)).status, 400);
  assert.equal((await fetch(`${url}/api/predictions/7`)).status, 200);
  assert.equal((await fetch(`${url}/api/predictions/8`)).status, 404);
  assert.deepEqual(await (await fetch(`${url}/api/events?kind=frame_rejected`)).json(), { events: [], kinds: ['frame_rejected'] });
  const page = await fetch(`${url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  const html = await page.text();
  assert.doesNotMatch(html, /https?:\/\//, 'the page loads nothing from outside the gateway');
  assert.equal((await fetch(`${url}/app.js`)).status, 200);
  assert.equal((await fetch(`${url}/nope`)).status, 404);
});

test('checkAction compares in constant time over equal-length digests, so any length is safe', () => {
  assert.deepEqual(checkAction(`Bearer ${TOKEN}`, TOKEN), { ok: true });
  assert.equal(checkAction(`Bearer ${'x'.repeat(10_000)}`, TOKEN).ok, false);
  assert.equal(checkAction('Bearer é', TOKEN).ok, false);
});

test('the token comes from status.token or the first line of status.tokenFile, and is redacted', async (t) => {
  const dir = await tempDir(t);
  writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
  writeFileSync(join(dir, 'short'), 'abc\n');
  assert.equal(actionToken({}, dir), undefined);
  assert.equal(actionToken({ token: TOKEN }, dir), TOKEN);
  assert.equal(actionToken({ tokenFile: 'token' }, dir), TOKEN, 'relative to the config folder');
  assert.throws(() => actionToken({ tokenFile: 'short' }, dir), /at least 16 characters/);
  assert.throws(() => actionToken({ tokenFile: 'missing' }, dir), /cannot be read/);
  assert.equal(StatusSchema.safeParse({ token: 'short' }).success, false, 'a short token is a config error');
  assert.equal(StatusSchema.safeParse({ token: TOKEN, tokenFile: 'token' }).success, false, 'not both');
  const shown = redact({ status: StatusSchema.parse({ token: TOKEN }) });
  assert.equal(shown.status.token, '[redacted]');
  assert.equal(redact({ status: { tokenFile: '/etc/edge-agent/token' } }).status.tokenFile, '/etc/edge-agent/token', 'the path is not a secret');
});
