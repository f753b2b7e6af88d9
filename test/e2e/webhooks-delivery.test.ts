// Delivery behaviour end to end: api and process manager in this process on one database, a real HTTP
// receiver on loopback (allow-listed), real undici requests, signatures checked with the standardwebhooks package.
import type { INestApplicationContext } from '@nestjs/common';
import type pg from 'pg';
import standardwebhooks from 'standardwebhooks';
import { startTestApi, type TestApi } from '../support/api.js';
import { startTestProcessManager } from '../support/process-manager.js';
import { connectDatabase, eventually, expectProblem, sleep } from '../support/problem.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { createWebhook, deliveriesOf, deliveriesWhen, received, TEST_ENCRYPTION_KEY, verified } from '../support/webhooks.js';

const ENV = { OPSLEDGER_WEBHOOK_ALLOWLIST: '127.0.0.1/32', OPSLEDGER_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, OPSLEDGER_WEBHOOK_RESPONSE_LIMIT_BYTES: '64' };
const FAST_RETRIES = { strategy: 'schedule', delaysSeconds: [0.2, 0.2, 0.2] };

let api: TestApi;
let pm: INestApplicationContext;
let receiver: WebhookReceiver;

beforeAll(async () => {
  [api, receiver] = await Promise.all([startTestApi(ENV), WebhookReceiver.start()]);
  pm = await startTestProcessManager(api.databaseUrl, ENV);
});
afterAll(async () => {
  await pm?.close();
  await api?.close();
  await receiver?.close();
});

const setKey = async (key: string, value: unknown) => {
  const res = await api.call('PUT', `/api/key-value/${encodeURIComponent(key)}`, { value });
  expect(res.status).toBe(200);
};
const kvEvents = (prefix: string) => ({ events: ['key-value.entry.*'], filter: { field: 'key', op: 'prefix', value: prefix } });

test('matching events are delivered, signed, as {type, timestamp, data}; others are not', async () => {
  const sets = await createWebhook(api, receiver, '/sets', { events: ['key-value.entry.set'], filter: { field: 'key', op: 'glob', value: 'match/*' }, headers: { 'x-environment': 'ci' } });
  const deletes = await createWebhook(api, receiver, '/deletes', { events: ['key-value.entry.deleted'], filter: { field: 'key', op: 'glob', value: 'match/*' } });
  expect(sets.secret).toMatch(/^whsec_/);
  await setKey('match/a', { n: 1 });
  const [request] = await received(receiver, '/sets');
  const payload = verified(request, sets.secret);
  expect(payload).toEqual({ type: 'key-value.entry.set', timestamp: expect.any(String), data: expect.objectContaining({ key: 'match/a', value: { n: 1 }, version: 1 }) });
  expect(request.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
  expect(request.headers['content-type']).toBe('application/json');
  expect(request.headers['x-environment']).toBe('ci');
  expect(request.headers['user-agent']).toMatch(/^OpsLedger-Webhooks\//);
  const [delivery] = await deliveriesWhen(api, sets.id, (items) => items.length === 1 && items[0].status === 'succeeded');
  expect(delivery).toMatchObject({ webhookId: request.headers['webhook-id'], eventType: 'key-value.entry.set', attemptCount: 1, attempts: [{ attempt: 1, statusCode: 204, outcome: 'succeeded' }] });
  expect(await deliveriesOf(api, deletes.id)).toEqual([]);

  expect((await api.call('DELETE', `/api/key-value/${encodeURIComponent('match/a')}`)).status).toBe(204);
  const [deleted] = await received(receiver, '/deletes');
  expect(verified(deleted, deletes.secret)).toMatchObject({ type: 'key-value.entry.deleted', data: { key: 'match/a' } });
  await sleep(300);
  expect(receiver.at('/sets')).toHaveLength(1);
});

test('data filters: only events whose data match are delivered', async () => {
  const hook = await createWebhook(api, receiver, '/filtered', {
    events: ['key-value.entry.set'],
    filter: { and: [{ field: 'key', op: 'glob', value: 'releases/**' }, { not: { field: 'value.env', op: 'eq', value: 'dev' } }] },
  });
  await setKey('other/x', { env: 'prod' });
  await setKey('releases/2026/q4', { env: 'dev' });
  await setKey('releases/2026/q4', { env: 'prod' });
  const [only] = await received(receiver, '/filtered');
  await sleep(500);
  expect(receiver.at('/filtered')).toHaveLength(1);
  expect(verified(only, hook.secret).data).toMatchObject({ key: 'releases/2026/q4', value: { env: 'prod' } });
});

test('redaction removes the configured fields before anything is sent or stored', async () => {
  const hook = await createWebhook(api, receiver, '/redacted', { ...kvEvents('redact/'), redact: ['value.password', 'value.items.token'] });
  await setKey('redact/a', { user: 'u', password: 'hunter2', items: [{ token: 't1', id: 1 }, { token: 't2', id: 2 }] });
  const [request] = await received(receiver, '/redacted');
  expect(verified(request, hook.secret).data.value).toEqual({ user: 'u', items: [{ id: 1 }, { id: 2 }] });
  expect(request.body).not.toContain('hunter2');
  const [delivery] = await deliveriesWhen(api, hook.id, (items) => items.length === 1);
  const detail = await api.call('GET', `/api/webhooks/deliveries/${delivery.id}`);
  expect(JSON.stringify(detail.body.payload)).not.toContain('hunter2');
});

test('secret rotation: during the overlap both secrets verify; without one only the new secret does', async () => {
  const hook = await createWebhook(api, receiver, '/rotated', kvEvents('rotate/'));
  const rotated = await api.call('POST', `/api/webhooks/${hook.id}/rotate-secret`, { overlapSeconds: 3600 });
  expect(rotated.status).toBe(200);
  expect(rotated.body.secret).toMatch(/^whsec_/);
  expect(rotated.body.secret).not.toBe(hook.secret);
  await setKey('rotate/a', 1);
  const [first] = await received(receiver, '/rotated');
  expect(String(first.headers['webhook-signature']).split(' ')).toHaveLength(2);
  verified(first, hook.secret);
  verified(first, rotated.body.secret);

  const again = await api.call('POST', `/api/webhooks/${hook.id}/rotate-secret`, { overlapSeconds: 0 });
  await setKey('rotate/b', 2);
  const [, second] = await received(receiver, '/rotated', 2);
  expect(String(second.headers['webhook-signature']).split(' ')).toHaveLength(1);
  verified(second, again.body.secret);
  expect(() => verified(second, rotated.body.secret)).toThrow(standardwebhooks.WebhookVerificationError);
  const view = await api.call('GET', `/api/webhooks/${hook.id}`);
  expect(JSON.stringify(view.body)).not.toMatch(/whsec_|v1\./);
});

test('a 500 is retried (same webhook-id) until it succeeds; every attempt is tracked', async () => {
  receiver.on('/flaky', (_req, i) => (i < 2 ? { status: 500, body: 'x'.repeat(200) } : { status: 200, body: 'ok' }));
  const hook = await createWebhook(api, receiver, '/flaky', { ...kvEvents('flaky/'), retry: FAST_RETRIES });
  await setKey('flaky/a', 1);
  const requests = await received(receiver, '/flaky', 3);
  expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
  for (const r of requests) verified(r, hook.secret);
  const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'succeeded');
  expect(delivery.attempts.map((a: any) => [a.statusCode, a.outcome])).toEqual([[500, 'failed'], [500, 'failed'], [200, 'succeeded']]);
  expect(delivery.attempts[0].response).toBe('x'.repeat(64) + ' …[truncated]');
  expect(delivery.attempts[0].nextAttemptAt).toEqual(expect.any(String));
  expect(delivery.attempts.every((a: any) => typeof a.durationMs === 'number' && a.at)).toBe(true);
  expect(delivery.nextAttemptAt).toBeNull();
  const health = (await api.call('GET', `/api/webhooks/${hook.id}`)).body.health;
  expect(health).toMatchObject({ consecutiveFailures: 0, failuresTotal: 2, successesTotal: 1, lastSuccessAt: expect.any(String) });
});

test('a receiver that stalls times out; the last attempt fails the delivery', async () => {
  receiver.on('/stall', () => 'stall');
  const hook = await createWebhook(api, receiver, '/stall', { ...kvEvents('stall/'), timeoutMs: 300, retry: { strategy: 'schedule', delaysSeconds: [0.1] } });
  await setKey('stall/a', 1);
  const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'failed');
  expect(delivery.attempts).toHaveLength(2);
  for (const a of delivery.attempts) expect(a).toMatchObject({ statusCode: null, error: 'timed out after 300 ms' });
  expect(receiver.at('/stall')).toHaveLength(2);
});

test('the timeout covers the whole attempt: a body that never ends is cut at it, the status code stands', async () => {
  // A byte every 50 ms: the per-read body timeout (300 ms) never fires, only the attempt's deadline does.
  receiver.on('/trickle', () => ({ status: 200, trickleEveryMs: 50 }));
  const hook = await createWebhook(api, receiver, '/trickle', { ...kvEvents('trickle/'), timeoutMs: 300 });
  await setKey('trickle/a', 1);
  const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'succeeded');
  expect(delivery.attempts).toHaveLength(1);
  const [attempt] = delivery.attempts;
  expect(attempt.statusCode).toBe(200);
  expect(attempt.response).toMatch(/^\.*\s?\[response body: timed out after 300 ms\]$/);
});

test('429 with Retry-After waits as long as the receiver asks', async () => {
  receiver.on('/busy', (_req, i) => (i === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 204 }));
  const hook = await createWebhook(api, receiver, '/busy', { ...kvEvents('busy/'), retry: { strategy: 'schedule', delaysSeconds: [0.1, 0.1] } });
  await setKey('busy/a', 1);
  const [first, second] = await received(receiver, '/busy', 2);
  expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(1900);
  const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'succeeded');
  expect(Date.parse(delivery.attempts[0].nextAttemptAt) - Date.parse(delivery.attempts[0].at)).toBeGreaterThanOrEqual(2000);
});

test('redirects are not followed: a 3xx is a failed attempt', async () => {
  receiver.on('/moved', () => ({ status: 302, headers: { location: '/moved-here' } }));
  const hook = await createWebhook(api, receiver, '/moved', { ...kvEvents('moved/'), retry: { strategy: 'schedule', delaysSeconds: [] } });
  await setKey('moved/a', 1);
  const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'failed');
  expect(delivery.attempts[0]).toMatchObject({ statusCode: 302, outcome: 'failed', error: 'redirect to /moved-here not followed' });
  expect(receiver.at('/moved-here')).toEqual([]);
});

test('redelivery sends a settled delivery again with the same webhook-id', async () => {
  const hook = await createWebhook(api, receiver, '/again', kvEvents('again/'));
  await setKey('again/a', 1);
  const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'succeeded');
  const res = await api.call('POST', `/api/webhooks/deliveries/${delivery.id}/redeliver`);
  expect(res.status).toBe(202);
  // Read after the write: the delivery (recorded in a batch, now copied into its own stream) keeps its attempt.
  expect(res.body).toMatchObject({ id: delivery.id, attemptCount: expect.any(Number) });
  expect(res.body.attemptCount).toBeGreaterThanOrEqual(1);
  const [first, second] = await received(receiver, '/again', 2);
  expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
  const [after] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'succeeded' && items[0].attemptCount === 2);
  expect(after.attempts.map((a: any) => a.attempt)).toEqual([1, 2]);
  expectProblem(await api.call('POST', '/api/webhooks/deliveries/00000000-0000-5000-8000-000000000000/redeliver'), 404, 'DELIVERY_NOT_FOUND');
});

/**
 * As a process manager that owned the endpoint and died would leave it, in one transaction: its lease run out,
 * and the queue row changed by `sql` (put back as before the outcome the dead owner never stored).
 */
async function leftByDeadOwner(db: pg.Client, endpointId: string, sql: string, params: unknown[]): Promise<number> {
  await db.query('BEGIN');
  try {
    const owners = await db.query(`UPDATE webhook_endpoint_owners SET owner = 'dead-process-manager', until = now() - interval '1 second' WHERE endpoint_id = $1`, [endpointId]);
    expect(owners.rowCount).toBe(1);
    const { rowCount } = await db.query(sql, params);
    await db.query('COMMIT');
    return rowCount ?? 0;
  } catch (error) {
    await db.query('ROLLBACK');
    throw error;
  }
}

test('a row taken over after a lost completion is not sent again when its success is on record', async () => {
  // A process manager that recorded a first-attempt success (in a batch event) and died before handing the
  // row back: the row (deleted once delivered) is pending again, and the endpoint's lease has run out, as a
  // restart would find it.
  const hook = await createWebhook(api, receiver, '/lost-completion', kvEvents('lost/'));
  await setKey('lost/a', 1);
  const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'succeeded');
  const db = await connectDatabase(api.databaseUrl);
  const queued = async () => (await db.query(`SELECT 1 FROM webhook_queue WHERE delivery_id = $1`, [delivery.id])).rowCount;
  try {
    await eventually(async () => ((await queued()) === 0 ? true : undefined), 10_000, 'the delivered row to leave the queue');
    const restored = await leftByDeadOwner(
      db,
      hook.id,
      `INSERT INTO webhook_queue (delivery_id, endpoint_id, message_id, correlation_id, status, revision, next_attempt_at, payload, scheduled, created_at)
       SELECT d.delivery_id, d.endpoint_id, d.message_id, 'lost', 'pending', -1, now(), d.payload,
              jsonb_build_object('sourceEventId', d.source_event_id, 'replayId', NULL, 'test', false, 'scheduledAt', d.created_at, 'causationId', d.source_event_id,
                                 'actor', jsonb_build_object('kind', 'system', 'id', 'webhook-router')),
              d.created_at
       FROM webhook_deliveries d WHERE d.delivery_id = $1`,
      [delivery.id],
    );
    expect(restored).toBe(1);
    await eventually(async () => ((await queued()) === 0 ? true : undefined), 10_000, 'the row to be taken over and settled');
  } finally {
    await db.end();
  }
  await sleep(200);
  expect(receiver.at('/lost-completion')).toHaveLength(1);
  expect((await deliveriesOf(api, hook.id))[0]).toMatchObject({ status: 'succeeded', attemptCount: 1 });
});

test('a row taken over after its stream was started by an owner that died before handing it back', async () => {
  // The first attempt fails and is recorded (the stream holds Scheduled and Attempted); the queue row is then
  // put back as a crash before the completion would leave it: no stream revision, pending, due, the lease run out.
  let status = 500;
  receiver.on('/restarted', () => ({ status }));
  const hook = await createWebhook(api, receiver, '/restarted', { ...kvEvents('restarted/'), retry: { strategy: 'schedule', delaysSeconds: [3600] } });
  await setKey('restarted/a', 1);
  const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.attemptCount === 1);
  status = 204;
  const db = await connectDatabase(api.databaseUrl);
  try {
    expect(
      await leftByDeadOwner(db, hook.id, `UPDATE webhook_queue SET revision = -1, attempts = 0, next_attempt_at = now() WHERE delivery_id = $1 AND status = 'pending'`, [delivery.id]),
    ).toBe(1);
    const [after] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'succeeded');
    // The second holder found the stream started, folded it in and recorded attempt 2 after attempt 1.
    expect(after.attempts.map((a: any) => [a.attempt, a.outcome])).toEqual([[1, 'failed'], [2, 'succeeded']]);
    const { rows } = await db.query(`SELECT type FROM es_events WHERE stream_id = $1 ORDER BY revision`, [`webhook-delivery-${delivery.id}`]);
    expect(rows.map((r) => r.type)).toEqual(['WebhookDeliveryScheduled', 'WebhookDeliveryAttempted', 'WebhookDeliveryAttempted', 'WebhookDeliverySucceeded']);
  } finally {
    await db.end();
  }
});

test('a success that lands after the endpoint was taken over is recorded in its own stream, not in a batch', async () => {
  // The owner's request is under way when another process manager takes the endpoint (as when this one stalled
  // past its lease): the late success must meet, in the delivery's stream, whatever the new owner records.
  receiver.on('/taken', () => ({ status: 204, delayMs: 2500 }));
  const hook = await createWebhook(api, receiver, '/taken', kvEvents('taken/'));
  await setKey('taken/a', 1);
  await received(receiver, '/taken', 1);
  const db = await connectDatabase(api.databaseUrl);
  try {
    const taken = await db.query(`UPDATE webhook_endpoint_owners SET owner = 'another-process-manager', until = now() + interval '1 minute' WHERE endpoint_id = $1`, [hook.id]);
    expect(taken.rowCount).toBe(1);
    const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'succeeded');
    const { rows } = await db.query(`SELECT type FROM es_events WHERE stream_id = $1 ORDER BY revision`, [`webhook-delivery-${delivery.id}`]);
    expect(rows.map((r) => r.type)).toEqual(['WebhookDeliveryScheduled', 'WebhookDeliveryAttempted', 'WebhookDeliverySucceeded']);
    // Its outcome was not stored by a process that no longer owns the endpoint. The other one "dies": whoever
    // takes the endpoint over finds the success on record and sends nothing.
    expect((await db.query(`SELECT status, revision FROM webhook_queue WHERE delivery_id = $1`, [delivery.id])).rows).toEqual([{ status: 'pending', revision: '-1' }]);
    await db.query(`UPDATE webhook_endpoint_owners SET until = now() - interval '1 second' WHERE endpoint_id = $1`, [hook.id]);
    await eventually(async () => ((await db.query('SELECT 1 FROM webhook_queue WHERE delivery_id = $1', [delivery.id])).rowCount === 0 ? true : undefined), 10_000, 'the row settled by the next owner');
  } finally {
    await db.end();
  }
  expect(receiver.at('/taken')).toHaveLength(1);
});

test('a delivered row leaves the queue; its redelivery is queued again from its record', async () => {
  const hook = await createWebhook(api, receiver, '/pruned', kvEvents('pruned/'));
  await setKey('pruned/a', 1);
  const [delivery] = await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'succeeded');
  const db = await connectDatabase(api.databaseUrl);
  try {
    await eventually(async () => ((await db.query('SELECT 1 FROM webhook_queue WHERE delivery_id = $1', [delivery.id])).rowCount === 0 ? true : undefined), 10_000, 'the row to leave the queue');
  } finally {
    await db.end();
  }
  expect((await api.call('POST', `/api/webhooks/deliveries/${delivery.id}/redeliver`)).status).toBe(202);
  const [first, second] = await received(receiver, '/pruned', 2);
  expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
  expect(verified(second, hook.secret).data).toMatchObject({ key: 'pruned/a', value: 1 });
  await deliveriesWhen(api, hook.id, (items) => items[0]?.status === 'succeeded' && items[0].attemptCount === 2);
});

test('deliveries not attempted yet are listed and readable as pending, and cannot be redelivered', async () => {
  // One request per 100 s: the first goes out at once, the other three wait in the queue, never attempted.
  const hook = await createWebhook(api, receiver, '/queued', { ...kvEvents('queued/'), rateLimitPerSecond: 0.01 });
  for (let i = 0; i < 4; i++) await setKey(`queued/${i}`, i);
  await received(receiver, '/queued', 1);
  const items = await deliveriesWhen(api, hook.id, (list) => list.length === 4 && list.filter((d: any) => d.status === 'succeeded').length === 1);
  const waiting = items.filter((d: any) => d.status === 'pending');
  expect(waiting).toHaveLength(3);
  for (const d of waiting) expect(d).toMatchObject({ eventType: 'key-value.entry.set', attemptCount: 0, attempts: [], webhookId: expect.stringMatching(/^msg_/), completedAt: null });
  // Newest first, across what was attempted and what was not; pages of one walk the same order.
  const created = items.map((d: any) => Date.parse(d.createdAt));
  expect(created).toEqual([...created].sort((a, b) => b - a));
  const walked: string[] = [];
  for (let cursor: string | null = null, n = 0; n < 10; n++) {
    const page: any = await api.call('GET', `/api/webhooks/${hook.id}/deliveries?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(page.status).toBe(200);
    walked.push(...page.body.items.map((d: any) => d.id));
    cursor = page.body.nextCursor;
    if (!cursor) break;
  }
  expect(walked).toEqual(items.map((d: any) => d.id));
  const pendingOnly = await api.call('GET', `/api/webhooks/${hook.id}/deliveries?status=pending`);
  expect(pendingOnly.body.items.map((d: any) => d.id).sort()).toEqual(waiting.map((d: any) => d.id).sort());
  const detail = await api.call('GET', `/api/webhooks/deliveries/${waiting[0].id}`);
  expect(detail.status).toBe(200);
  expect(detail.body).toMatchObject({ id: waiting[0].id, status: 'pending', attempts: [], payload: { type: 'key-value.entry.set', data: expect.objectContaining({ key: expect.stringMatching(/^queued\//) }) } });
  expectProblem(await api.call('POST', `/api/webhooks/deliveries/${waiting[0].id}/redeliver`), 409, 'DELIVERY_PENDING');
  // Deleting the endpoint cancels them: each is then recorded (Scheduled and Cancelled) and read from the read model.
  expect((await api.call('DELETE', `/api/webhooks/${hook.id}`)).status).toBe(204);
  await eventually(async () => {
    const d = (await api.call('GET', `/api/webhooks/deliveries/${waiting[0].id}`)).body;
    return d.status === 'cancelled' ? d : undefined;
  }, 15_000, 'the waiting delivery to be cancelled');
});

test('test events and custom events', async () => {
  const hook = await createWebhook(api, receiver, '/custom', { events: ['deploy.*'] });
  const test = await api.call('POST', `/api/webhooks/${hook.id}/test`, { data: { hello: 'world' } });
  expect(test.status).toBe(202);
  const [ping] = await received(receiver, '/custom');
  expect(verified(ping, hook.secret)).toMatchObject({ type: 'webhook.test', data: { hello: 'world' } });
  await eventually(async () => {
    const delivery = (await api.call('GET', `/api/webhooks/deliveries/${test.body.deliveryId}`)).body;
    return delivery.status === 'succeeded' && delivery.test === true ? delivery : undefined;
  }, 10_000, 'the test delivery to succeed');

  const triggered = await api.call('POST', '/api/webhooks/trigger', { type: 'deploy.finished', data: { org: 'staging', ok: true } });
  expect(triggered.status).toBe(202);
  const [, custom] = await received(receiver, '/custom', 2);
  expect(verified(custom, hook.secret)).toMatchObject({ type: 'deploy.finished', data: { org: 'staging', ok: true } });
  expectProblem(await api.call('POST', '/api/webhooks/trigger', { type: 'task.completed', data: {} }), 400, 'RESERVED_EVENT_TYPE');
  expectProblem(await api.call('POST', '/api/webhooks/trigger', { type: 'Not A Name' }), 400, 'VALIDATION_FAILED');
});

test('providers: Slack and Teams message bodies, and a custom template', async () => {
  const slack = await createWebhook(api, receiver, '/slack', { ...kvEvents('providers/'), provider: 'slack' });
  const teams = await createWebhook(api, receiver, '/teams', { ...kvEvents('providers/'), provider: 'teams' });
  const custom = await createWebhook(api, receiver, '/template', { ...kvEvents('providers/'), provider: 'custom', template: { text: '{{type}}: {{data.key}}', value: '{{data.value}}' } });
  await setKey('providers/a', { n: 7 });
  const [s] = await received(receiver, '/slack');
  const [t] = await received(receiver, '/teams');
  const [c] = await received(receiver, '/template');
  expect(verified(s, slack.secret)).toMatchObject({ text: expect.stringContaining('key-value.entry.set'), blocks: expect.any(Array) });
  expect(verified(t, teams.secret)).toMatchObject({ type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive' }] });
  expect(verified(c, custom.secret)).toEqual({ text: 'key-value.entry.set: providers/a', value: { n: 7 } });
});

test('per-endpoint concurrency and rate limits hold', async () => {
  receiver.on('/narrow', () => ({ status: 204, delayMs: 300 }));
  await createWebhook(api, receiver, '/narrow', { ...kvEvents('narrow/'), maxConcurrency: 2 });
  receiver.on('/slow-rate', () => ({ status: 204 }));
  await createWebhook(api, receiver, '/slow-rate', { ...kvEvents('rate/'), rateLimitPerSecond: 5 });
  await Promise.all(Array.from({ length: 8 }, (_, i) => setKey(`narrow/${i}`, i)));
  await Promise.all(Array.from({ length: 10 }, (_, i) => setKey(`rate/${i}`, i)));
  const narrow = await received(receiver, '/narrow', 8);
  expect(receiver.maxOpen.get('/narrow')).toBeLessThanOrEqual(2);
  // Two at a time, 300 ms each: eight take at least four rounds.
  expect(narrow[7].receivedAt - narrow[0].receivedAt).toBeGreaterThanOrEqual(900);
  const rated = await received(receiver, '/slow-rate', 10);
  // A bucket of 5 then 5 per second: the tenth request cannot come before a second has passed.
  expect(rated[9].receivedAt - rated[0].receivedAt).toBeGreaterThanOrEqual(900);
});
