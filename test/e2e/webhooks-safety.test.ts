// Without OPSLEDGER_WEBHOOK_ALLOWLIST (production): private, loopback, link-local and metadata targets are
// refused when defined, and a host name that resolves to one is refused when the process manager connects.
import type { INestApplicationContext } from '@nestjs/common';
import type pg from 'pg';
import { startTestApi, type TestApi } from '../support/api.js';
import { startTestProcessManager } from '../support/process-manager.js';
import { connectDatabase, expectProblem, sleep } from '../support/problem.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { deliveriesWhen, TEST_ENCRYPTION_KEY } from '../support/webhooks.js';

const ENV = { OPSLEDGER_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY };

let api: TestApi;
let pm: INestApplicationContext;
let receiver: WebhookReceiver;
let db: pg.Client;

beforeAll(async () => {
  [api, receiver] = await Promise.all([startTestApi(ENV), WebhookReceiver.start()]);
  pm = await startTestProcessManager(api.databaseUrl, ENV);
  db = await connectDatabase(api.databaseUrl);
});
afterAll(async () => {
  await db?.end();
  await pm?.close();
  await api?.close();
  await receiver?.close();
});

test('private, loopback, link-local, metadata and plain-http targets are refused at definition', async () => {
  const count = async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM es_events WHERE stream_id LIKE 'webhook-%'`)).rows[0].n;
  const before = await count();
  for (const url of [
    `${receiver.url}/x`,
    `https://127.0.0.1:${receiver.port}/x`,
    'https://[::1]/x',
    'https://169.254.169.254/latest/meta-data/',
    'https://[fd00:ec2::254]/latest',
    'https://10.20.30.40/hook',
    'https://192.168.1.10/hook',
    'https://[::ffff:127.0.0.1]/hook',
    'http://hooks.example.com/plain',
  ]) {
    expectProblem(await api.call('POST', '/api/webhooks', { name: 'x', url, events: ['*'] }), 400, 'INVALID_WEBHOOK_URL');
  }
  expect(await count()).toBe(before);
  expect((await api.call('GET', '/api/webhooks')).body.items).toEqual([]);
});

test('a host name resolving to a loopback address is refused when connecting (the check is on the resolved address)', async () => {
  const created = await api.call('POST', '/api/webhooks', { name: 'sneaky', url: `https://localhost:${receiver.port}/sneaky`, events: ['deploy.*'], retry: { strategy: 'schedule', delaysSeconds: [] } });
  expect(created.status).toBe(201);
  expect((await api.call('POST', '/api/webhooks/trigger', { type: 'deploy.started', data: {} })).status).toBe(202);
  const [delivery] = await deliveriesWhen(api, created.body.id, (items) => items[0]?.status === 'failed');
  expect(delivery.attempts[0]).toMatchObject({ statusCode: null, error: expect.stringMatching(/^refused: localhost resolves to (127\.0\.0\.1|::1), which is a loopback, private, link-local or reserved address/) });
  await sleep(200);
  expect(receiver.requests).toEqual([]);
});
