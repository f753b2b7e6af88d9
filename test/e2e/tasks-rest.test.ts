import type { INestApplicationContext } from '@nestjs/common';
import type pg from 'pg';
import { startTestApi, type TestApi } from '../support/api.js';
import { connectDatabase, expectProblem } from '../support/problem.js';
import { startTestProcessManager } from '../support/process-manager.js';
import { createToken, submit, waitForStatus } from '../support/tasks.js';

let api: TestApi;
let pm: INestApplicationContext;
let db: pg.Client;

beforeAll(async () => {
  api = await startTestApi();
  pm = await startTestProcessManager(api.databaseUrl);
  db = await connectDatabase(api.databaseUrl);
});
afterAll(async () => {
  await db?.end();
  await pm?.close();
  await api?.close();
});

const later = () => new Date(Date.now() + 3_600_000).toISOString();

async function counts() {
  const { rows } = await db.query<{ events: number; tasks: number }>('SELECT (SELECT count(*)::int FROM es_events) AS events, (SELECT count(*)::int FROM tasks) AS tasks');
  return rows[0];
}

async function expectRejected(request: () => ReturnType<TestApi['call']>, status: number, code: string) {
  const before = await counts();
  const res = await request();
  expectProblem(res, status, code);
  expect(await counts()).toEqual(before);
  return res;
}

describe('submit', () => {
  test('202 with the operation id, status pending; status, result and events read back', async () => {
    const res = await api.call('POST', '/api/tasks', { type: 'system.echo', data: { value: [1, 'two'] }, scheduledFor: later() });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ operationId: expect.stringMatching(/^[0-9a-z]{26}$/), type: 'system.echo', status: 'pending' });
    const id = res.body.operationId;
    const status = await api.call('GET', `/api/tasks/${id}/status`);
    expect(status.body).toMatchObject({ operationId: id, type: 'system.echo', status: 'pending', priority: 'normal', attempts: 0, maxAttempts: 3, progress: null, error: null });
    expect((await api.call('GET', `/api/tasks/${id}`)).body).toEqual(status.body);
    expect((await api.call('GET', `/api/tasks/${id}/result`)).body).toEqual({ operationId: id, type: 'system.echo', status: 'pending', result: null, error: null, stages: [] });
    const events = await api.call('GET', `/api/tasks/${id}/events`);
    expect(events.body.items).toEqual([
      expect.objectContaining({ type: 'task.submitted', internalType: 'TaskSubmitted', revision: 0, position: expect.stringMatching(/^\d+-\d+$/), actor: { kind: 'token', id: expect.any(String) } }),
    ]);
    expect(events.body.items[0].data).toMatchObject({ operationId: id, taskType: 'system.echo', data: { value: [1, 'two'] } });
  });

  test('?wait=N returns 200 with the final status and result when the task finishes in time', async () => {
    const res = await api.call('POST', '/api/tasks?wait=20', { type: 'system.echo', data: { value: { n: 42 } } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ type: 'system.echo', status: 'completed', attempts: 1, result: { echo: { n: 42 } }, progress: { percent: 100 } });
    const result = await api.call('GET', `/api/tasks/${res.body.operationId}/result`);
    expect(result.body).toMatchObject({ status: 'completed', result: { echo: { n: 42 } } });
  });

  test('?wait=N returns the 202 when the task does not finish in time', async () => {
    const res = await api.call('POST', '/api/tasks?wait=1', { type: 'system.sleep', data: { durationMs: 4000 } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ operationId: expect.any(String), type: 'system.sleep', status: expect.stringMatching(/^(pending|active)$/) });
    await api.call('DELETE', `/api/tasks/${res.body.operationId}`);
  });

  test('defaults of the type apply; given retry, timeout and priority are kept', async () => {
    const { operationId } = await submit(api, {
      type: 'system.fail',
      priority: 'critical',
      retry: { maxAttempts: 5, backoff: { initialDelayMs: 10, maxDelayMs: 20, jitter: false } },
      timeoutMs: 1234,
      scheduledFor: later(),
    });
    const [event] = (await api.call('GET', `/api/tasks/${operationId}/events`)).body.items;
    expect(event.data).toMatchObject({ priority: 'critical', timeoutMs: 1234, retry: { maxAttempts: 5, initialDelayMs: 10, maxDelayMs: 20, multiplier: 2, jitter: false } });
  });
});

describe('bad submissions are 400 problem+json and change nothing', () => {
  test.each([
    ['an unknown type', { type: 'system.nope', data: {} }, 'UNKNOWN_TASK_TYPE'],
    ['data the schema rejects', { type: 'system.sleep', data: { durationMs: -5 } }, 'INVALID_TASK_DATA'],
    ['data with unknown fields', { type: 'system.sleep', data: { durationMs: 5, extra: true } }, 'INVALID_TASK_DATA'],
    ['missing data for a type with required fields', { type: 'system.sleep' }, 'INVALID_TASK_DATA'],
    ['data that is not an object', { type: 'system.echo', data: [1] }, 'INVALID_TASK_DATA'],
    ['a bad priority', { type: 'system.echo', priority: 'urgent' }, 'VALIDATION_FAILED'],
    ['a type that is not dotted', { type: 'echo' }, 'VALIDATION_FAILED'],
    ['an unknown field', { type: 'system.echo', color: 'red' }, 'VALIDATION_FAILED'],
    ['a bad scheduledFor', { type: 'system.echo', scheduledFor: 'tomorrow' }, 'VALIDATION_FAILED'],
    ['a bad cron', { type: 'system.echo', recurrence: { cron: '99 * * * * *' } }, 'INVALID_RECURRENCE'],
    ['an unknown time zone', { type: 'system.echo', recurrence: { cron: '0 * * * *', timezone: 'Mars/Olympus' } }, 'INVALID_RECURRENCE'],
    ['retry without maxAttempts', { type: 'system.echo', retry: { backoff: { initialDelayMs: 5 } } }, 'VALIDATION_FAILED'],
    ['a backoff cap below its start', { type: 'system.echo', retry: { maxAttempts: 2, backoff: { initialDelayMs: 500, maxDelayMs: 10 } } }, 'VALIDATION_FAILED'],
    ['a zero timeout', { type: 'system.echo', timeoutMs: 0 }, 'VALIDATION_FAILED'],
    ['a bad idempotency key', { type: 'system.echo', idempotencyKey: 'has space' }, 'VALIDATION_FAILED'],
  ])('%s', async (_what, body, code) => {
    const res = await expectRejected(() => api.call('POST', '/api/tasks', body), 400, code);
    if (code === 'INVALID_TASK_DATA') expect(res.body.errors.length).toBeGreaterThan(0);
    if (code === 'UNKNOWN_TASK_TYPE') expect(res.body.detail).toContain('system.echo');
  });

  test('?wait out of range is 400', async () => {
    await expectRejected(() => api.call('POST', '/api/tasks?wait=61', { type: 'system.echo' }), 400, 'VALIDATION_FAILED');
  });

  test('malformed JSON is 400', async () => {
    await expectRejected(() => api.call('POST', '/api/tasks', '{"type": ', { headers: { 'content-type': 'application/json' } }), 400, 'MALFORMED_JSON');
  });

  test('unknown and malformed ids are 404', async () => {
    expectProblem(await api.call('GET', '/api/tasks/01m8ymkryrmejjckmc7pnffqax/status'), 404, 'TASK_NOT_FOUND');
    expectProblem(await api.call('GET', '/api/tasks/not-an-id/result'), 404, 'TASK_NOT_FOUND');
    expectProblem(await api.call('DELETE', '/api/tasks/01m8ymkryrmejjckmc7pnffqax'), 404, 'TASK_NOT_FOUND');
  });
});

describe('idempotency keys', () => {
  test('the same key returns the same task; a different request with it is 409; another token has its own keys', async () => {
    const body = { type: 'system.echo', data: { value: 'once' }, idempotencyKey: 'deploy-123', scheduledFor: '2030-01-01T00:00:00Z' };
    const first = await api.call('POST', '/api/tasks', body);
    const second = await api.call('POST', '/api/tasks', body);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body.operationId).toBe(first.body.operationId);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const reused = await expectRejected(() => api.call('POST', '/api/tasks', { ...body, data: { value: 'other' } }), 409, 'IDEMPOTENCY_KEY_REUSED');
    expect(reused.body.operationId).toBe(first.body.operationId);
    const other = await createToken(api, ['tasks:write']);
    const third = await api.call('POST', '/api/tasks', body, { token: other.token });
    expect(third.status).toBe(202);
    expect(third.body.operationId).not.toBe(first.body.operationId);
  });

  test('concurrent submissions with one key create exactly one task', async () => {
    const body = { type: 'system.echo', data: { value: 'race' }, idempotencyKey: 'race-1' };
    const results = await Promise.all(Array.from({ length: 12 }, () => api.call('POST', '/api/tasks', body)));
    expect(results.map((r) => [r.status, r.body.code])).toEqual(results.map(() => [202, undefined]));
    expect(new Set(results.map((r) => r.body.operationId)).size).toBe(1);
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM es_events WHERE type = 'TaskSubmitted' AND data->>'idempotencyKey' = 'race-1'`);
    expect(rows[0].n).toBe(1);
  });
});

describe('cancel and stop-recurring', () => {
  test('a pending task is cancelled at once; cancelling again is 409 TASK_FINISHED', async () => {
    const { operationId } = await submit(api, { type: 'system.echo', scheduledFor: later() });
    const res = await api.call('DELETE', `/api/tasks/${operationId}`, { reason: 'not needed' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED', message: 'not needed' } });
    await expectRejected(() => api.call('DELETE', `/api/tasks/${operationId}`), 409, 'TASK_FINISHED');
  });

  test('stop-recurring on a one-off task is 409 NOT_RECURRING', async () => {
    const { operationId } = await submit(api, { type: 'system.echo', scheduledFor: later() });
    await expectRejected(() => api.call('POST', `/api/tasks/${operationId}/stop-recurring`), 409, 'NOT_RECURRING');
  });

  test('a finished task cannot be cancelled', async () => {
    const { operationId } = await submit(api, { type: 'system.echo' }, { query: '?wait=20' });
    await expectRejected(() => api.call('DELETE', `/api/tasks/${operationId}`), 409, 'TASK_FINISHED');
  });
});

describe('listing', () => {
  test('filters by status, type, priority and time; cursor pagination newest first', async () => {
    const since = new Date().toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await submit(api, { type: 'system.fail', priority: 'batch', scheduledFor: later(), data: { message: `n${i}` } })).operationId);
    const until = new Date().toISOString();
    const page1 = await api.call('GET', `/api/tasks?type=system.fail&priority=batch&status=pending&submittedAfter=${since}&limit=2`);
    expect(page1.body.items.map((t: { operationId: string }) => t.operationId)).toEqual([ids[4], ids[3]]);
    const page2 = await api.call('GET', `/api/tasks?type=system.fail&priority=batch&status=pending&submittedAfter=${since}&limit=2&cursor=${page1.body.nextCursor}`);
    const page3 = await api.call('GET', `/api/tasks?type=system.fail&priority=batch&status=pending&submittedAfter=${since}&limit=2&cursor=${page2.body.nextCursor}`);
    expect([...page2.body.items, ...page3.body.items].map((t: { operationId: string }) => t.operationId)).toEqual([ids[2], ids[1], ids[0]]);
    expect(page3.body.nextCursor).toBeNull();
    const before = await api.call('GET', `/api/tasks?type=system.fail&submittedBefore=${since}`);
    expect(before.body.items.some((t: { operationId: string }) => ids.includes(t.operationId))).toBe(false);
    const window = await api.call('GET', `/api/tasks?submittedAfter=${since}&submittedBefore=${until}&status=completed`);
    expect(window.body.items).toEqual([]);
    expectProblem(await api.call('GET', '/api/tasks?status=running'), 400, 'VALIDATION_FAILED');
    expectProblem(await api.call('GET', '/api/tasks?cursor=nonsense'), 400, 'INVALID_CURSOR');
  });

  test('the registered types are listed', async () => {
    const res = await api.call('GET', '/api/tasks/types');
    expect(res.body.items.map((t: { type: string }) => t.type)).toEqual(expect.arrayContaining(['system.echo', 'system.fail', 'system.sleep']));
  });
});

describe('permissions', () => {
  test('tasks:read cannot submit or cancel; scoped writers only their types; readers only see their types', async () => {
    const reader = await createToken(api, ['tasks:read']);
    const echoWriter = await createToken(api, ['tasks:write:system.echo', 'tasks:read:system.echo']);
    const noTasks = await createToken(api, ['kv:read']);
    const sleeping = await submit(api, { type: 'system.sleep', data: { durationMs: 10 }, scheduledFor: later() });
    const echo = await submit(api, { type: 'system.echo', scheduledFor: later() });

    await expectRejected(() => api.call('POST', '/api/tasks', { type: 'system.echo' }, { token: reader.token }), 403, 'INSUFFICIENT_SCOPE');
    await expectRejected(() => api.call('DELETE', `/api/tasks/${echo.operationId}`, undefined, { token: reader.token }), 403, 'INSUFFICIENT_SCOPE');
    await expectRejected(() => api.call('POST', '/api/tasks', { type: 'system.sleep', data: { durationMs: 1 } }, { token: echoWriter.token }), 403, 'INSUFFICIENT_SCOPE');
    await expectRejected(() => api.call('DELETE', `/api/tasks/${sleeping.operationId}`, undefined, { token: echoWriter.token }), 403, 'INSUFFICIENT_SCOPE');
    await expectRejected(() => api.call('POST', `/api/tasks/${sleeping.operationId}/stop-recurring`, undefined, { token: echoWriter.token }), 403, 'INSUFFICIENT_SCOPE');
    expect((await api.call('POST', '/api/tasks', { type: 'system.echo', scheduledFor: later() }, { token: echoWriter.token })).status).toBe(202);

    for (const path of ['status', 'result', 'events']) {
      expectProblem(await api.call('GET', `/api/tasks/${sleeping.operationId}/${path}`, undefined, { token: echoWriter.token }), 403, 'INSUFFICIENT_SCOPE');
      expect((await api.call('GET', `/api/tasks/${echo.operationId}/${path}`, undefined, { token: echoWriter.token })).status).toBe(200);
      expectProblem(await api.call('GET', `/api/tasks/${echo.operationId}/${path}`, undefined, { token: noTasks.token }), 403, 'INSUFFICIENT_SCOPE');
    }
    const listed = await api.call('GET', '/api/tasks?limit=1000', undefined, { token: echoWriter.token });
    expect(listed.body.items.length).toBeGreaterThan(0);
    expect(listed.body.items.every((t: { type: string }) => t.type === 'system.echo')).toBe(true);
    expectProblem(await api.call('GET', '/api/tasks', undefined, { token: noTasks.token }), 403, 'INSUFFICIENT_SCOPE');
    expectProblem(await api.call('GET', '/api/tasks', undefined, { token: null }), 401, 'TOKEN_MISSING');
  });
});

test('a task runs to completion and REST shows it', async () => {
  const { operationId } = await submit(api, { type: 'system.echo', data: { value: 'done' } });
  const final = await waitForStatus(api, operationId);
  expect(final).toMatchObject({ status: 'completed', attempts: 1, error: null });
});
