// Crash safety of webhook delivery: the process manager runs as a real child process (dist/, built by
// `npm test`) and is killed with SIGKILL while the receiver is down and deliveries are being retried, then
// again while it catches up on events written during its absence. After the receiver and the process
// manager come back, every event reaches every endpoint exactly once by webhook-id, and the event store
// holds exactly one delivery per (event, endpoint), each settled once. Then two process managers share the
// endpoints and the owner of two of them is killed the moment a success of theirs is recorded but not yet
// settled in the queue: the other takes them over when their leases run out and records nothing twice (it
// fails when a takeover does not mark the dead owner's rows).
import type pg from 'pg';
import { startTestApi, type TestApi } from '../support/api.js';
import { connectDatabase, eventually, sleep } from '../support/problem.js';
import { cleanEnv, distScript, spawnNode, type Spawned } from '../support/processes.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { createWebhook, DELIVERY_RECORDS, TEST_ENCRYPTION_KEY, verified } from '../support/webhooks.js';

const ENV = { OPSLEDGER_WEBHOOK_ALLOWLIST: '127.0.0.1/32', OPSLEDGER_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY };
const PATHS = ['/a', '/b', '/c'];
const EVENTS = 40;

let api: TestApi;
let receiver: WebhookReceiver;
let db: pg.Client;
const processes: Spawned[] = [];

function startProcessManager(databaseUrl = api.databaseUrl): Promise<Spawned> {
  const pm = spawnNode(distScript('apps/process-manager/src/main.js'), [], cleanEnv({ ...ENV, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' }));
  processes.push(pm);
  return pm.waitForLine((l) => l.includes('process manager running'), 30_000).then(() => pm);
}

beforeAll(async () => {
  [api, receiver] = await Promise.all([startTestApi(ENV), WebhookReceiver.start()]);
  db = await connectDatabase(api.databaseUrl);
});
afterAll(async () => {
  for (const p of processes) await p.stop('SIGKILL');
  await db?.end();
  await api?.close();
  await receiver?.close();
});

const trigger = async (from: number, to: number) => {
  for (let n = from; n < to; n++) expect((await api.call('POST', '/api/webhooks/trigger', { type: 'fault.happened', data: { n } })).status).toBe(202);
};
const count = async (sql: string) => (await db.query<{ n: number }>(sql)).rows[0].n;

test('SIGKILL during retries with the receiver down: every delivery arrives once per webhook-id, none lost', async () => {
  const hooks = [];
  for (const path of PATHS) {
    hooks.push(await createWebhook(api, receiver, path, { events: ['fault.*'], timeoutMs: 1000, retry: { strategy: 'schedule', delaysSeconds: [0.3, 0.5, 0.5, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2] } }));
  }
  await receiver.down();
  let pm = await startProcessManager();
  await trigger(0, EVENTS / 2);
  // Mid-retry: deliveries have failed attempts behind them and more scheduled.
  await eventually(async () => ((await count(`SELECT count(*)::int AS n FROM webhook_queue WHERE attempts >= 2`)) >= 20 ? true : undefined), 30_000, 'failed attempts');
  await pm.stop('SIGKILL');

  await trigger(EVENTS / 2, EVENTS);
  pm = await startProcessManager();
  // Killed again while it catches up on the events written in its absence.
  await eventually(async () => ((await count(`SELECT count(*)::int AS n FROM webhook_queue`)) > (EVENTS / 2) * PATHS.length ? true : undefined), 30_000, 'routing to resume');
  await pm.stop('SIGKILL');
  pm = await startProcessManager();
  await sleep(500);
  await receiver.up();

  const total = EVENTS * PATHS.length;
  await eventually(
    async () => ((await count(`SELECT count(*)::int AS n FROM (${DELIVERY_RECORDS}) r WHERE type = 'WebhookDeliverySucceeded'`)) >= total ? true : undefined),
    50_000,
    `${total} successful deliveries`,
  );
  for (const [i, path] of PATHS.entries()) {
    const byId = new Map<string, Set<string>>();
    for (const request of receiver.at(path)) {
      const payload = verified(request, hooks[i].secret);
      const id = String(request.headers['webhook-id']);
      byId.set(id, (byId.get(id) ?? new Set()).add(JSON.stringify(payload.data)));
    }
    expect(byId.size).toBe(EVENTS);
    // One webhook-id is one event: a repeated send carries the same body.
    expect([...byId.values()].every((bodies) => bodies.size === 1)).toBe(true);
    expect([...byId.values()].map((b) => JSON.parse([...b][0]).n).sort((x, y) => x - y)).toEqual(Array.from({ length: EVENTS }, (_, n) => n));
  }
  expect(await count(`SELECT count(*)::int AS n FROM (${DELIVERY_RECORDS}) r WHERE type = 'WebhookDeliveryScheduled'`)).toBe(total);
  expect(await count(`SELECT count(*)::int AS n FROM (${DELIVERY_RECORDS}) r WHERE type = 'WebhookDeliverySucceeded'`)).toBe(total);
  expect(await count(`SELECT count(DISTINCT stream_id)::int AS n FROM (${DELIVERY_RECORDS}) r WHERE type = 'WebhookDeliverySucceeded'`)).toBe(total);
  expect(await count(`SELECT count(*)::int AS n FROM webhook_queue WHERE status <> 'succeeded'`)).toBe(0);
}, 120_000);

test('two process managers share the endpoints; one killed with SIGKILL, the other takes its endpoints once their leases run out, nothing lost or recorded twice', async () => {
  // A database of its own: the fair share counts every endpoint, and the previous test's would decide the split.
  for (const p of processes.splice(0)) await p.stop('SIGTERM');
  const api = await startTestApi(ENV);
  const db = await connectDatabase(api.databaseUrl);
  try {
    const paths = ['/x', '/y', '/z'];
    const hooks = [];
    for (const path of paths) {
      receiver.on(path, () => ({ status: 204, delayMs: 20 }));
      hooks.push(await createWebhook(api, receiver, path, { events: ['failover.*'], timeoutMs: 1000, maxConcurrency: 2 }));
    }
    const ids = hooks.map((h) => h.id);
    const pms = [await startProcessManager(api.databaseUrl), await startProcessManager(api.databaseUrl)];
    const owners = async () =>
      (await db.query<{ owner: string; n: number }>(`SELECT owner, count(*)::int AS n FROM webhook_endpoint_owners WHERE endpoint_id = ANY($1) AND owner IS NOT NULL GROUP BY owner ORDER BY n DESC`, [ids])).rows;
    const shared = await eventually(async () => {
      const rows = await owners();
      return rows.map((r) => r.n).join() === '2,1' ? rows : undefined;
    }, 20_000, 'the endpoints shared');
    const failover = async (from: number, to: number) => {
      for (let n = from; n < to; n++) expect((await api.call('POST', '/api/webhooks/trigger', { type: 'failover.happened', data: { n } })).status).toBe(202);
    };
    const victim = pms.find((p) => shared[0].owner.split(':')[1] === String(p.pid))!;
    expect(victim).toBeDefined();
    const victims = (await db.query<{ id: string }>(`SELECT endpoint_id AS id FROM webhook_endpoint_owners WHERE owner = $1`, [shared[0].owner])).rows.map((r) => r.id);
    await failover(0, 20);
    // The owner of two endpoints dies while their deliveries are under way, at best in the moment a success is
    // on record (in a batch event) but not yet settled in the queue: the survivor must not record it again.
    const recordedNotSettled = `SELECT 1 FROM es_events e CROSS JOIN jsonb_array_elements(e.data->'deliveries') AS d
      JOIN webhook_queue q ON q.delivery_id = (d->'scheduled'->>'deliveryId')::uuid
      WHERE e.type = 'WebhookDeliveriesSucceeded' AND q.endpoint_id = ANY($1) AND q.status = 'pending' LIMIT 1`;
    for (const until = Date.now() + 10_000; Date.now() < until; ) if ((await db.query(recordedNotSettled, [victims])).rowCount) break;
    await victim.stop('SIGKILL');
    await failover(20, 40);
    await eventually(async () => ((await owners()).map((r) => r.n).join() === '3' ? true : undefined), 30_000, 'the survivor owning every endpoint');

    const total = 40 * paths.length;
    const records = async () =>
      (await db.query<{ type: string; n: number; streams: number }>(
        `SELECT r.type, count(*)::int AS n, count(DISTINCT r.stream_id)::int AS streams FROM (${DELIVERY_RECORDS}) r
         JOIN webhook_deliveries d ON r.stream_id = 'webhook-delivery-' || d.delivery_id WHERE d.endpoint_id = ANY($1) GROUP BY r.type ORDER BY r.type`,
        [ids],
      )).rows;
    const successes = async () => (await records()).find((r) => r.type === 'WebhookDeliverySucceeded')?.n ?? 0;
    await eventually(async () => ((await successes()) >= total ? true : undefined), 30_000, `${total} successes`);
    await sleep(500);
    for (const path of paths) {
      const byId = new Set(receiver.at(path).map((r) => String(r.headers['webhook-id'])));
      expect(byId.size).toBe(40);
    }
    const byType = Object.fromEntries((await records()).map((r) => [r.type, r]));
    expect(byType.WebhookDeliveryScheduled).toMatchObject({ n: total, streams: total });
    expect(byType.WebhookDeliverySucceeded).toMatchObject({ n: total, streams: total });
    expect((await db.query(`SELECT count(*)::int AS n FROM webhook_queue WHERE endpoint_id = ANY($1)`, [ids])).rows[0].n).toBe(0);
  } finally {
    for (const p of processes.splice(0)) await p.stop('SIGKILL');
    await db.end();
    await api.close();
  }
}, 120_000);
