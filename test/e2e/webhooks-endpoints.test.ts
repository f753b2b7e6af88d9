// Endpoint lifecycle end to end: CRUD, bad definitions (400, nothing stored), permissions, 410 and
// auto-disable (with the webhook.endpoint.disabled event), deletion cancelling pending retries, replay.
import type { INestApplicationContext } from '@nestjs/common';
import type pg from 'pg';
import { startTestApi, type TestApi } from '../support/api.js';
import { startTestProcessManager } from '../support/process-manager.js';
import { connectDatabase, eventually, expectProblem, sleep } from '../support/problem.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { createWebhook, deliveriesOf, deliveriesWhen, received, TEST_ENCRYPTION_KEY, verified } from '../support/webhooks.js';

const ENV = { OPSLEDGER_WEBHOOK_ALLOWLIST: '127.0.0.1/32', OPSLEDGER_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, OPSLEDGER_WEBHOOK_AUTO_DISABLE_AFTER_SECONDS: '2' };

let api: TestApi;
let pm: INestApplicationContext;
let receiver: WebhookReceiver;
let db: pg.Client;
let watcher: { id: string; secret: string };

beforeAll(async () => {
  [api, receiver] = await Promise.all([startTestApi(ENV), WebhookReceiver.start()]);
  pm = await startTestProcessManager(api.databaseUrl, ENV);
  db = await connectDatabase(api.databaseUrl);
  watcher = await createWebhook(api, receiver, '/watcher', { events: ['webhook.endpoint.disabled'] });
});
afterAll(async () => {
  await db?.end();
  await pm?.close();
  await api?.close();
  await receiver?.close();
});

const setKey = async (key: string, value: unknown) => expect((await api.call('PUT', `/api/key-value/${encodeURIComponent(key)}`, { value })).status).toBe(200);
const kvEvents = (prefix: string) => ({ events: ['key-value.entry.*'], filter: { field: 'key', op: 'prefix', value: prefix } });
// What the api writes for webhooks (endpoint definitions, custom events); delivery streams are left out: the
// process manager appends to them on its own time (e.g. cancelling an earlier test's pending deliveries).
const webhookEvents = async () =>
  (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM es_events WHERE stream_id LIKE 'webhook-%' AND stream_id NOT LIKE 'webhook-delivery-%'`)).rows[0].n;
const disabledNotice = (endpointId: string) =>
  eventually(async () => receiver.at('/watcher').map((r) => verified(r, watcher.secret)).find((p) => p.data.endpointId === endpointId), 15_000, `webhook.endpoint.disabled for ${endpointId}`);

describe('definitions', () => {
  test('create, get, list, update, disable, enable, delete', async () => {
    const created = await createWebhook(api, receiver, '/crud', { events: ['task.*'], headers: { 'x-env': 'ci' }, timeoutMs: 5000 });
    expect(created).toMatchObject({ status: 'enabled', events: ['task.*'], provider: 'generic', headers: { 'x-env': 'ci' }, timeoutMs: 5000, maxConcurrency: 10, retry: { strategy: 'schedule', delaysSeconds: [5, 300, 1800, 7200, 18000, 36000, 36000] } });
    const got = await api.call('GET', `/api/webhooks/${created.id}`);
    expect(got.status).toBe(200);
    expect(got.body.secret).toBeUndefined();
    expect(JSON.stringify(got.body)).not.toContain(created.secret);
    expect((await api.call('GET', '/api/webhooks')).body.items.map((w: any) => w.id)).toContain(created.id);

    const patched = await api.call('PATCH', `/api/webhooks/${created.id}`, { name: 'renamed', events: ['task.completed'], headers: null });
    expect(patched.body).toMatchObject({ name: 'renamed', events: ['task.completed'], headers: {}, timeoutMs: 5000 });
    const disabled = await api.call('PATCH', `/api/webhooks/${created.id}`, { status: 'disabled' });
    expect(disabled.body).toMatchObject({ status: 'disabled', disabledReason: 'manual' });
    expect((await api.call('PATCH', `/api/webhooks/${created.id}`, { status: 'enabled' })).body).toMatchObject({ status: 'enabled', disabledReason: null });

    expect((await api.call('DELETE', `/api/webhooks/${created.id}`)).status).toBe(204);
    expectProblem(await api.call('GET', `/api/webhooks/${created.id}`), 404, 'WEBHOOK_NOT_FOUND');
    expectProblem(await api.call('DELETE', `/api/webhooks/${created.id}`), 404, 'WEBHOOK_NOT_FOUND');
    expect((await api.call('GET', '/api/webhooks')).body.items.map((w: any) => w.id)).not.toContain(created.id);
    expect((await api.call('GET', `/api/webhooks/${created.id}/deliveries`)).status).toBe(200);
    expectProblem(await api.call('GET', '/api/webhooks/nope'), 404, 'WEBHOOK_NOT_FOUND');
  });

  test('bad definitions are 400 problems and store nothing', async () => {
    const base = { name: 'bad', url: `${receiver.url}/bad`, events: ['task.*'] };
    const cases: [Record<string, unknown>, string][] = [
      [{ name: 'x', events: ['task.*'] }, 'VALIDATION_FAILED'],
      [{ ...base, url: 'not a url' }, 'INVALID_WEBHOOK_URL'],
      [{ ...base, url: 'http://example.com/hook' }, 'INVALID_WEBHOOK_URL'],
      [{ ...base, url: 'https://10.0.0.1/hook' }, 'INVALID_WEBHOOK_URL'],
      [{ ...base, url: 'https://169.254.169.254/latest/meta-data' }, 'INVALID_WEBHOOK_URL'],
      [{ ...base, url: 'https://user:pw@example.com/' }, 'INVALID_WEBHOOK_URL'],
      [{ ...base, events: [] }, 'VALIDATION_FAILED'],
      [{ ...base, events: ['Not A Pattern'] }, 'VALIDATION_FAILED'],
      [{ ...base, filter: { field: 'key', op: 'like', value: 'x' } }, 'INVALID_FILTER'],
      [{ ...base, filter: { and: [{ field: 'n', op: 'in', value: 3 }] } }, 'INVALID_FILTER'],
      [{ ...base, provider: 'custom' }, 'INVALID_TEMPLATE'],
      [{ ...base, provider: 'pagerduty' }, 'VALIDATION_FAILED'],
      [{ ...base, headers: { 'content-type': 'text/plain' } }, 'INVALID_HEADERS'],
      [{ ...base, headers: { 'x-a': 'one\r\ntwo' } }, 'INVALID_HEADERS'],
      [{ ...base, headers: { 'bad header': 'x' } }, 'INVALID_HEADERS'],
      [{ ...base, timeoutMs: 60_000 }, 'VALIDATION_FAILED'],
      [{ ...base, retry: { strategy: 'schedule', delaysSeconds: [-1] } }, 'INVALID_RETRY_POLICY'],
      [{ ...base, retry: { strategy: 'exponential', initialDelaySeconds: 10, maxDelaySeconds: 5, maxAttempts: 3 } }, 'INVALID_RETRY_POLICY'],
      [{ ...base, retry: { strategy: 'sometimes' } }, 'INVALID_RETRY_POLICY'],
      [{ ...base, redact: ['a..b'] }, 'VALIDATION_FAILED'],
      [{ ...base, maxConcurrency: 0 }, 'VALIDATION_FAILED'],
      [{ ...base, unknown: true }, 'VALIDATION_FAILED'],
    ];
    const before = { events: await webhookEvents(), list: (await api.call('GET', '/api/webhooks')).body };
    for (const [body, code] of cases) {
      const res = await api.call('POST', '/api/webhooks', body);
      try {
        expectProblem(res, 400, code);
      } catch (error) {
        throw new Error(`${JSON.stringify(body)}: ${(error as Error).message}`);
      }
    }
    const existing = await createWebhook(api, receiver, '/patch-target', { events: ['task.*'] });
    const after = await webhookEvents();
    for (const [body, code] of [[{ url: 'http://example.com/' }, 'INVALID_WEBHOOK_URL'], [{ retry: { strategy: 'x' } }, 'INVALID_RETRY_POLICY'], [{ provider: 'custom' }, 'INVALID_TEMPLATE']] as const) {
      expectProblem(await api.call('PATCH', `/api/webhooks/${existing.id}`, body), 400, code);
    }
    expect(await webhookEvents()).toBe(after);
    expect(after).toBe(before.events + 1);
    expect((await api.call('GET', `/api/webhooks/${existing.id}`)).body.url).toBe(`${receiver.url}/patch-target`);
    await api.call('DELETE', `/api/webhooks/${existing.id}`);
  });

  test('every endpoint checks role and scopes', async () => {
    const token = async (role: string, scopes: string[] = []) => (await api.call('POST', '/api/application-tokens', { name: `t-${role}-${scopes.join('-')}`, role, scopes })).body.token as string;
    const hook = await createWebhook(api, receiver, '/perm', { events: ['perm.*'] });
    const member = await token('member');
    const app = await token('application');
    const readOnly = await token('application', ['webhooks:read']);
    const deployOnly = await token('application', ['webhooks:trigger:deploy.*']);
    const manage: [string, string, unknown?][] = [
      ['POST', '/api/webhooks', { name: 'x', url: `${receiver.url}/x`, events: ['a.b'] }],
      ['PATCH', `/api/webhooks/${hook.id}`, { name: 'y' }],
      ['DELETE', `/api/webhooks/${hook.id}`],
      ['POST', `/api/webhooks/${hook.id}/rotate-secret`, {}],
      ['POST', `/api/webhooks/${hook.id}/test`, {}],
      ['POST', `/api/webhooks/${hook.id}/replay`, { since: new Date(Date.now() - 60_000).toISOString() }],
    ];
    const before = await webhookEvents();
    for (const t of [member, app, readOnly]) for (const [m, p, b] of manage) expectProblem(await api.call(m, p, b, { token: t }), 403, 'INSUFFICIENT_SCOPE');
    for (const t of [member, app, readOnly]) expect((await api.call('GET', `/api/webhooks/${hook.id}/deliveries`, undefined, { token: t })).status).toBe(200);
    expectProblem(await api.call('GET', '/api/webhooks', undefined, { token: deployOnly }), 403, 'INSUFFICIENT_SCOPE');
    expectProblem(await api.call('GET', '/api/webhooks', undefined, { token: null }), 401, 'TOKEN_MISSING');
    expectProblem(await api.call('POST', '/api/webhooks/trigger', { type: 'deploy.x' }, { token: readOnly }), 403, 'INSUFFICIENT_SCOPE');
    expectProblem(await api.call('POST', '/api/webhooks/trigger', { type: 'perm.x' }, { token: deployOnly }), 403, 'INSUFFICIENT_SCOPE');
    expectProblem(await api.call('POST', '/api/webhooks/trigger', { type: 'perm.x' }, { token: member }), 403, 'INSUFFICIENT_SCOPE');
    expect(await webhookEvents()).toBe(before);
    expect((await api.call('POST', '/api/webhooks/trigger', { type: 'deploy.ok' }, { token: deployOnly })).status).toBe(202);
    expect((await api.call('POST', '/api/webhooks/trigger', { type: 'perm.ok' }, { token: app })).status).toBe(202);
    const [request] = await received(receiver, '/perm');
    expect(verified(request, hook.secret).type).toBe('perm.ok');
  });

  test('scopes with a pattern narrow webhooks to endpoint names', async () => {
    const scoped = (await api.call('POST', '/api/application-tokens', { name: 'ci-hooks', role: 'owner', scopes: ['webhooks:manage:ci-*', 'webhooks:read:ci-*'] })).body.token;
    const other = await createWebhook(api, receiver, '/not-ci', { name: 'prod-alerts', events: ['x.*'] });
    const mine = await api.call('POST', '/api/webhooks', { name: 'ci-deploys', url: `${receiver.url}/ci`, events: ['x.*'] }, { token: scoped });
    expect(mine.status).toBe(201);
    expectProblem(await api.call('POST', '/api/webhooks', { name: 'prod-more', url: `${receiver.url}/ci`, events: ['x.*'] }, { token: scoped }), 403, 'INSUFFICIENT_SCOPE');
    const listed = (await api.call('GET', '/api/webhooks?limit=500', undefined, { token: scoped })).body.items.map((w: any) => w.name);
    expect(listed).toContain('ci-deploys');
    expect(listed.every((n: string) => n.startsWith('ci-'))).toBe(true);
    expectProblem(await api.call('GET', `/api/webhooks/${other.id}`, undefined, { token: scoped }), 403, 'INSUFFICIENT_SCOPE');
    expectProblem(await api.call('GET', `/api/webhooks/${other.id}/deliveries`, undefined, { token: scoped }), 403, 'INSUFFICIENT_SCOPE');
    expectProblem(await api.call('DELETE', `/api/webhooks/${other.id}`, undefined, { token: scoped }), 403, 'INSUFFICIENT_SCOPE');
    expectProblem(await api.call('PATCH', `/api/webhooks/${mine.body.id}`, { name: 'prod-renamed' }, { token: scoped }), 403, 'INSUFFICIENT_SCOPE');
    expect((await api.call('PATCH', `/api/webhooks/${mine.body.id}`, { name: 'ci-renamed' }, { token: scoped })).body.name).toBe('ci-renamed');
    expect((await api.call('GET', `/api/webhooks/${other.id}`)).body.name).toBe('prod-alerts');
  });
});

describe('lifecycle', () => {
  test('410 Gone fails the delivery, disables the endpoint and announces it', async () => {
    receiver.on('/gone', () => ({ status: 410 }));
    const hook = await createWebhook(api, receiver, '/gone', { ...kvEvents('gone/'), retry: { strategy: 'schedule', delaysSeconds: [0.1, 0.1] } });
    await setKey('gone/a', 1);
    const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'failed');
    expect(delivery.attempts).toHaveLength(1);
    const notice = await disabledNotice(hook.id);
    expect(notice).toMatchObject({ type: 'webhook.endpoint.disabled', data: { endpointId: hook.id, reason: 'gone' } });
    expect((await api.call('GET', `/api/webhooks/${hook.id}`)).body).toMatchObject({ status: 'disabled', disabledReason: 'gone' });
    await setKey('gone/b', 2);
    await sleep(500);
    expect(receiver.at('/gone')).toHaveLength(1);
    expect(await deliveriesOf(api, hook.id)).toHaveLength(1);
  });

  test('an endpoint failing for longer than the configured time is disabled; its pending retries are cancelled', async () => {
    receiver.on('/failing', () => ({ status: 500 }));
    const hook = await createWebhook(api, receiver, '/failing', { ...kvEvents('failing/'), retry: { strategy: 'schedule', delaysSeconds: Array(20).fill(0.3) } });
    await setKey('failing/a', 1);
    const notice = await disabledNotice(hook.id);
    expect(notice.data).toMatchObject({ reason: 'failing', detail: expect.stringMatching(/^every attempt failed since /) });
    const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'cancelled');
    const spans = delivery.attempts.map((a: any) => Date.parse(a.at));
    expect(spans[spans.length - 1] - spans[0]).toBeGreaterThanOrEqual(2000);
    const sent = receiver.at('/failing').length;
    await sleep(800);
    expect(receiver.at('/failing')).toHaveLength(sent);
    expect((await api.call('GET', `/api/webhooks/${hook.id}`)).body.health).toMatchObject({ consecutiveFailures: sent, successesTotal: 0 });
  });

  test('deleting an endpoint cancels its pending retries and keeps the history', async () => {
    receiver.on('/deleted', () => ({ status: 503 }));
    const hook = await createWebhook(api, receiver, '/deleted', { ...kvEvents('deleted/'), retry: { strategy: 'schedule', delaysSeconds: [60] } });
    await setKey('deleted/a', 1);
    await deliveriesWhen(api, hook.id, (items) => items[0]?.attemptCount === 1 && items[0].nextAttemptAt !== null);
    expect((await api.call('DELETE', `/api/webhooks/${hook.id}`)).status).toBe(204);
    const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'cancelled');
    expect(delivery.attempts).toHaveLength(1);
    expect(receiver.at('/deleted')).toHaveLength(1);
    expectProblem(await api.call('POST', `/api/webhooks/deliveries/${delivery.id}/redeliver`), 404, 'WEBHOOK_NOT_FOUND');
  });

  test('replay re-sends what matched in a time range (events missed while disabled)', async () => {
    const hook = await createWebhook(api, receiver, '/replayed', kvEvents('replay/'));
    const since = new Date().toISOString();
    await setKey('replay/before-disable', 0);
    await received(receiver, '/replayed', 1);
    await api.call('PATCH', `/api/webhooks/${hook.id}`, { status: 'disabled' });
    await setKey('replay/missed-1', 1);
    await setKey('replay/missed-2', 2);
    await sleep(300);
    expect(receiver.at('/replayed')).toHaveLength(1);
    expectProblem(await api.call('POST', `/api/webhooks/${hook.id}/replay`, { since }), 409, 'WEBHOOK_DISABLED');
    await api.call('PATCH', `/api/webhooks/${hook.id}`, { status: 'enabled' });
    expectProblem(await api.call('POST', `/api/webhooks/${hook.id}/replay`, { since: 'yesterday' }), 400, 'VALIDATION_FAILED');
    const replay = await api.call('POST', `/api/webhooks/${hook.id}/replay`, { since });
    expect(replay.status).toBe(202);
    const requests = await received(receiver, '/replayed', 4);
    const keys = requests.slice(1).map((r) => verified(r, hook.secret).data.key).sort();
    expect(keys).toEqual(['replay/before-disable', 'replay/missed-1', 'replay/missed-2']);
    const replayedFirst = requests.slice(1).find((r) => verified(r, hook.secret).data.key === 'replay/before-disable')!;
    expect(replayedFirst.headers['webhook-id']).toBe(requests[0].headers['webhook-id']);
    const view = await eventually(async () => {
      const body = (await api.call('GET', `/api/webhooks/${hook.id}`)).body;
      return body.replays[0]?.status === 'completed' ? body : undefined;
    }, 10_000, 'the replay to complete');
    expect(view.replays[0]).toMatchObject({ id: replay.body.replayId, scheduled: 3 });
  });
});
