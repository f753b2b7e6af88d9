import type { INestApplicationContext } from '@nestjs/common';
import type pg from 'pg';
import { startTestApi, type TestApi } from '../support/api.js';
import { startTestProcessManager } from '../support/process-manager.js';
import { connectDatabase, sleep } from '../support/problem.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { createWebhook, deliveriesOf, deliveriesWhen, received, TEST_ENCRYPTION_KEY, verified } from '../support/webhooks.js';

const ENV = { OPSLEDGER_WEBHOOK_ALLOWLIST: '127.0.0.1/32', OPSLEDGER_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, OPSLEDGER_WEBHOOK_AUTO_DISABLE_AFTER_SECONDS: '2' };

let api: TestApi;
let pm: INestApplicationContext;
let receiver: WebhookReceiver;
let db: pg.Client;

beforeAll(async () => {
  api = await startTestApi(ENV);
  pm = await startTestProcessManager(api.databaseUrl, ENV);
  receiver = await WebhookReceiver.start();
  db = await connectDatabase(api.databaseUrl);
  receiver.respond((req) => (req.path.startsWith('/fail-then-ok') ? { status: 204 } : { status: 204 }));
});
afterAll(async () => {
  await db?.end();
  await pm?.close();
  await api?.close();
  await receiver?.close();
});

const setKey = async (key: string, value: unknown) => {
  const res = await api.call('PUT', `/api/key-value/${encodeURIComponent(key)}`, { value });
  expect(res.status).toBe(200);
};

test('matching events are delivered, signed, as {type, timestamp, data}; others are not', async () => {
  const sets = await createWebhook(api, receiver, '/sets', { events: ['key-value.entry.set'] });
  const deletes = await createWebhook(api, receiver, '/deletes', { events: ['key-value.entry.deleted'] });
  expect(sets.secret).toMatch(/^whsec_/);
  await setKey('wh/a', { n: 1 });
  const [request] = await received(receiver, '/sets');
  const payload = verified(request, sets.secret);
  expect(payload).toEqual({ type: 'key-value.entry.set', timestamp: expect.any(String), data: expect.objectContaining({ key: 'wh/a', value: { n: 1 }, version: 1 }) });
  expect(request.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
  expect(request.headers['content-type']).toBe('application/json');
  await deliveriesWhen(api, sets.id, (items) => items.length === 1 && items[0].status === 'succeeded');
  expect(await deliveriesOf(api, deletes.id)).toEqual([]);
  expect(receiver.at('/deletes')).toEqual([]);

  const del = await api.call('DELETE', `/api/key-value/${encodeURIComponent('wh/a')}`);
  expect(del.status).toBe(204);
  const [deleted] = await received(receiver, '/deletes');
  expect(verified(deleted, deletes.secret)).toMatchObject({ type: 'key-value.entry.deleted', data: { key: 'wh/a' } });
  await sleep(300);
  expect(receiver.at('/sets')).toHaveLength(1);
});
