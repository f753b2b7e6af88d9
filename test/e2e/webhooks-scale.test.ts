// Several process managers on one database: claims are exclusive and respect the per-endpoint limits
// (webhook_claim called concurrently on real PostgreSQL), two live process managers never send an
// attempt twice, and when the one that routes stops, the other takes over from the stored checkpoint.
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

test('concurrent claims are disjoint and stay within the concurrency limit and the rate bucket', async () => {
  await db.query(
    `INSERT INTO webhook_queue (delivery_id, endpoint_id, message_id, correlation_id, status, revision, next_attempt_at, payload)
     SELECT gen_random_uuid(), e, 'msg', 'c', 'pending', 0, now() - interval '1 second', '{}' FROM generate_series(1, 40), unnest(ARRAY['claim-a', 'claim-b', 'claim-c']) AS e`,
  );
  // claim-a: at most 6 in flight; claim-b: 0.1 request per second, a bucket of one (refills in 10 s).
  const claim = async (owner: string) => {
    const client = new pg.Client({ connectionString: api.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ delivery_id: string | null; endpoint_id: string; owner: string }>(
        `SELECT delivery_id, endpoint_id, $1::text AS owner FROM webhook_claim($1, '{}', '{}', '{}', '{}', '{}', ARRAY['claim-a', 'claim-b'], ARRAY[6, 40], ARRAY[NULL, 0.1]::float8[], ARRAY[60000, 60000], ARRAY[false, false])`,
        [owner],
      );
      // Without the one row per endpoint that says how many requests may start.
      return rows.filter((r) => r.delivery_id !== null);
    } finally {
      await client.end();
    }
  };
  try {
    const all = (await Promise.all(Array.from({ length: 8 }, (_, i) => claim(`owner-${i}`)))).flat();
    expect(new Set(all.map((r) => r.delivery_id)).size).toBe(all.length);
    expect(all.filter((r) => r.endpoint_id === 'claim-a')).toHaveLength(6);
    expect(all.filter((r) => r.endpoint_id === 'claim-b')).toHaveLength(1);
    expect(await claim('late')).toEqual([]);
    // Ten seconds later (moved back rather than waited for) the bucket holds one request again.
    await db.query(`UPDATE webhook_rate_buckets SET refilled_at = refilled_at - interval '10 seconds' WHERE endpoint_id = 'claim-b'`);
    expect((await claim('later')).map((r) => r.endpoint_id)).toEqual(['claim-b']);
    // A caller whose requests have finished (outcomes being recorded, leases held) has those slots free again.
    const owner = all.find((r) => r.endpoint_id === 'claim-a')!;
    const owned = all.filter((r) => r.endpoint_id === 'claim-a' && r.owner === owner.owner).length;
    const { rows: more } = await db.query(
      `SELECT delivery_id, endpoint_id FROM webhook_claim($1, '{}', '{}', '{}', '{}', '{}', ARRAY['claim-a'], ARRAY[6], ARRAY[NULL]::float8[], ARRAY[60000], ARRAY[false], ARRAY[$2::integer])`,
      [owner.owner, owned],
    );
    expect(more.filter((r: any) => r.delivery_id !== null)).toHaveLength(owned);
    // Claiming ahead is for a caller alone at the endpoint: with other owners' leases there, none.
    const { rows: crowded } = await db.query(
      `SELECT delivery_id, startable FROM webhook_claim('ahead', '{}', '{}', '{}', '{}', '{}', ARRAY['claim-a'], ARRAY[6], ARRAY[NULL]::float8[], ARRAY[60000], ARRAY[false], ARRAY[0], ARRAY[0], ARRAY[4])`,
    );
    expect(crowded).toEqual([{ delivery_id: null, startable: 0 }]);
    // Alone at claim-c (concurrency 2): 2 to start and 4 held ready.
    const aheadOf = async (owner: string, sent: number, idle: number) =>
      (await db.query(
        `SELECT delivery_id, startable FROM webhook_claim($1, '{}', '{}', '{}', '{}', '{}', ARRAY['claim-c'], ARRAY[2], ARRAY[NULL]::float8[], ARRAY[60000], ARRAY[false], ARRAY[$2::integer], ARRAY[$3::integer], ARRAY[4])`,
        [owner, sent, idle],
      )).rows;
    const solo = await aheadOf('solo', 0, 0);
    expect(solo.filter((r: any) => r.delivery_id === null)).toEqual([{ delivery_id: null, startable: 2 }]);
    expect(solo.filter((r: any) => r.delivery_id !== null)).toHaveLength(6);
    // Another process gets nothing: the six leases (two requests, four ready) all count as open for it.
    expect(await aheadOf('other', 0, 0)).toEqual([{ delivery_id: null, startable: 0 }]);
    // The holder, its two requests finished: it may start two of its four ready rows, and claims two more ahead.
    const next = await aheadOf('solo', 2, 4);
    expect(next.filter((r: any) => r.delivery_id === null)).toEqual([{ delivery_id: null, startable: 2 }]);
    expect(next.filter((r: any) => r.delivery_id !== null)).toHaveLength(2);
  } finally {
    await db.query(`DELETE FROM webhook_queue WHERE endpoint_id LIKE 'claim-%'`);
  }
});

test('two process managers share the work without sending any attempt twice, and fail over', async () => {
  for (const path of PATHS) {
    receiver.on(path, () => ({ status: 204, delayMs: 50 }));
    await createWebhook(api, receiver, path, { events: ['scale.*'], maxConcurrency: 4 });
  }
  const trigger = (from: number, to: number) =>
    Promise.all(Array.from({ length: to - from }, (_, i) => api.call('POST', '/api/webhooks/trigger', { type: 'scale.event', data: { n: from + i } }).then((r) => expect(r.status).toBe(202))));
  await trigger(0, 60);
  for (const path of PATHS) await received(receiver, path, 60, 30_000);

  // The router runs on one of them: after stopping the first, the other routes and sends the rest.
  await pms.shift()!.close();
  await trigger(60, 90);
  for (const path of PATHS) await received(receiver, path, 90, 30_000);
  await eventually(async () => ((await db.query(`SELECT 1 FROM webhook_queue WHERE status <> 'succeeded' OR claimed_by IS NOT NULL LIMIT 1`)).rowCount === 0 ? true : undefined), 10_000, 'every claim handed back');
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
