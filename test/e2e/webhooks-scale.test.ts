// Several process managers on one database: they share the endpoints (one owner each, see
// webhook-claim.spec.ts for the SQL), never send an attempt twice, and when one stops, the other takes over
// its endpoints at once, and the routing from the stored checkpoint.
import type { INestApplicationContext } from '@nestjs/common';
import pg from 'pg';
import { startTestApi, type TestApi } from '../support/api.js';
import { startTestProcessManager } from '../support/process-manager.js';
import { connectDatabase, eventually, sleep } from '../support/problem.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { createWebhook, DELIVERY_RECORDS, received, TEST_ENCRYPTION_KEY } from '../support/webhooks.js';

const ENV = { OPSLEDGER_WEBHOOK_ALLOWLIST: '127.0.0.1/32', OPSLEDGER_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY };
const PATHS = ['/one', '/two', '/three'];

let api: TestApi;
let receiver: WebhookReceiver;
let db: pg.Client;
const pms: INestApplicationContext[] = [];

beforeAll(async () => {
  [api, receiver] = await Promise.all([startTestApi(ENV), WebhookReceiver.start()]);
  db = await connectDatabase(api.databaseUrl);
  pms.push(await startTestProcessManager(api.databaseUrl, ENV), await startTestProcessManager(api.databaseUrl, ENV));
});
afterAll(async () => {
  for (const pm of pms) await pm.close();
  await db?.end();
  await api?.close();
  await receiver?.close();
});

test('two process managers share the work without sending any attempt twice, and fail over', async () => {
  for (const path of PATHS) {
    receiver.on(path, () => ({ status: 204, delayMs: 50 }));
    await createWebhook(api, receiver, path, { events: ['scale.*'], maxConcurrency: 4 });
  }
  const trigger = (from: number, to: number) =>
    Promise.all(Array.from({ length: to - from }, (_, i) => api.call('POST', '/api/webhooks/trigger', { type: 'scale.event', data: { n: from + i } }).then((r) => expect(r.status).toBe(202))));
  const owners = async () => (await db.query<{ owner: string; n: number }>(`SELECT owner, count(*)::int AS n FROM webhook_endpoint_owners WHERE owner IS NOT NULL GROUP BY owner ORDER BY n`)).rows;
  await trigger(0, 60);
  for (const path of PATHS) await received(receiver, path, 60, 30_000);
  // Shared: one endpoint, and two, per process manager.
  await eventually(async () => ((await owners()).map((o) => o.n).join() === '1,2' ? true : undefined), 10_000, 'the endpoints shared');

  // The router runs on one of them: after stopping the first, the other routes and sends the rest. The
  // stopped one let its endpoints go (no lease to wait out): the other owns all three.
  await pms.shift()!.close();
  await eventually(async () => ((await owners()).map((o) => o.n).join() === '3' ? true : undefined), 10_000, 'the endpoints taken over');
  await trigger(60, 90);
  for (const path of PATHS) await received(receiver, path, 90, 30_000);
  await eventually(async () => ((await db.query(`SELECT 1 FROM webhook_queue WHERE status <> 'succeeded' LIMIT 1`)).rowCount === 0 ? true : undefined), 10_000, 'every outcome stored');
  await sleep(300);
  for (const path of PATHS) {
    const ids = receiver.at(path).map((r) => String(r.headers['webhook-id']));
    expect(ids).toHaveLength(90);
    expect(new Set(ids).size).toBe(90);
  }
  const counts = await db.query<{ type: string; n: number }>(
    `SELECT type, count(*)::int AS n FROM (${DELIVERY_RECORDS}) r WHERE type IN ('WebhookDeliveryScheduled', 'WebhookDeliveryAttempted', 'WebhookDeliverySucceeded') GROUP BY type ORDER BY type`,
  );
  expect(counts.rows).toEqual([
    { type: 'WebhookDeliveryAttempted', n: 270 },
    { type: 'WebhookDeliveryScheduled', n: 270 },
    { type: 'WebhookDeliverySucceeded', n: 270 },
  ]);
});
