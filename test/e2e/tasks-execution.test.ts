import type { INestApplicationContext } from '@nestjs/common';
import { startTestApi, type TestApi } from '../support/api.js';
import { eventually, sleep } from '../support/problem.js';
import { startTestProcessManager } from '../support/process-manager.js';
import { submit, waitForStatus, withEnv } from '../support/tasks.js';

let api: TestApi;
let pm: INestApplicationContext;
const PM_ENV = { OPSLEDGER_TASKS_CONCURRENCY: '8', OPSLEDGER_TASKS_LEASE_MS: '2000', OPSLEDGER_TASKS_SHUTDOWN_GRACE_MS: '300' };

beforeAll(async () => {
  api = await startTestApi();
  pm = await withEnv(PM_ENV, () => startTestProcessManager(api.databaseUrl));
});
afterAll(async () => {
  await pm?.close();
  await api?.close();
});

async function eventTypes(id: string): Promise<string[]> {
  return (await api.call('GET', `/api/tasks/${id}/events`)).body.items.map((e: { type: string }) => e.type);
}

const noJitter = (maxAttempts: number, initialDelayMs = 200) => ({ maxAttempts, backoff: { initialDelayMs, multiplier: 2, jitter: false } });

describe('retries', () => {
  test('a failing attempt is retried with exponential backoff, then succeeds', async () => {
    const { operationId } = await submit(api, { type: 'system.fail', data: { failAttempts: 2, message: 'flaky' }, retry: noJitter(3) });
    const final = await waitForStatus(api, operationId);
    expect(final).toMatchObject({ status: 'completed', attempts: 3, error: null });
    expect((await api.call('GET', `/api/tasks/${operationId}/result`)).body.result).toEqual({ succeededOnAttempt: 3 });
    const events = (await api.call('GET', `/api/tasks/${operationId}/events`)).body.items;
    expect(events.map((e: { type: string }) => e.type)).toEqual([
      'task.submitted',
      'task.started',
      'task.retry-scheduled',
      'task.started',
      'task.retry-scheduled',
      'task.started',
      'task.completed',
    ]);
    const retries = events.filter((e: { type: string }) => e.type === 'task.retry-scheduled').map((e: { data: { delayMs: number; error: unknown } }) => e.data);
    expect(retries.map((r: { delayMs: number }) => r.delayMs)).toEqual([200, 400]);
    expect(retries[0].error).toEqual({ code: 'REQUESTED_FAILURE', message: 'flaky', retriable: true });
    // Each retry waited for its backoff before the next start.
    const startedAt = events.filter((e: { type: string }) => e.type === 'task.started').map((e: { data: { startedAt: string } }) => Date.parse(e.data.startedAt));
    const runAt = retries.map((r: { runAt: string }) => Date.parse(r.runAt));
    expect(startedAt[1]).toBeGreaterThanOrEqual(runAt[0]);
    expect(startedAt[2]).toBeGreaterThanOrEqual(runAt[1]);
  });

  test('after maxAttempts the task fails with the last error', async () => {
    const { operationId } = await submit(api, { type: 'system.fail', data: { code: 'ORG_DOWN', message: 'org unreachable' }, retry: noJitter(2, 50) });
    expect(await waitForStatus(api, operationId)).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'ORG_DOWN', message: 'org unreachable', retriable: true } });
    expect(await eventTypes(operationId)).toEqual(['task.submitted', 'task.started', 'task.retry-scheduled', 'task.started', 'task.failed']);
  });

  test('a non-retriable error fails at once', async () => {
    const { operationId } = await submit(api, { type: 'system.fail', data: { retriable: false }, retry: noJitter(5, 50) });
    expect(await waitForStatus(api, operationId)).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'REQUESTED_FAILURE', retriable: false } });
  });
});

test('a timeout aborts the attempt, is recorded, and fails the task when no attempt is left', async () => {
  const { operationId } = await submit(api, { type: 'system.sleep', data: { durationMs: 20_000 }, timeoutMs: 300, retry: { maxAttempts: 1 } });
  const final = await waitForStatus(api, operationId, undefined, 15_000);
  expect(final).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'TIMEOUT', retriable: true } });
  expect(Date.parse(final.finishedAt) - Date.parse(final.startedAt)).toBeLessThan(5000);
  expect(await eventTypes(operationId)).toEqual(expect.arrayContaining(['task.started', 'task.timed-out', 'task.failed']));
});

test('stages are stored with their outputs, and a retry does not run a completed stage again', async () => {
  // Attempt 1 completes stage a (1 s) and times out in stage b; attempt 2 only runs b.
  const { operationId } = await submit(api, {
    type: 'system.sleep',
    data: { durationMs: 2000, stages: ['a', 'b'], steps: 2 },
    timeoutMs: 1600,
    retry: noJitter(2, 50),
  });
  const final = await waitForStatus(api, operationId, undefined, 20_000);
  expect(final).toMatchObject({ status: 'completed', attempts: 2 });
  const result = (await api.call('GET', `/api/tasks/${operationId}/result`)).body;
  expect(result.stages).toEqual([
    expect.objectContaining({ name: 'a', status: 'completed', attempt: 1, output: { sleptMs: 1000, attempt: 1 } }),
    expect.objectContaining({ name: 'b', status: 'completed', attempt: 2, output: { sleptMs: 1000, attempt: 2 } }),
  ]);
  expect(result.result).toEqual({ sleptMs: 2000, stages: { a: { sleptMs: 1000, attempt: 1 }, b: { sleptMs: 1000, attempt: 2 } } });
  const types = await eventTypes(operationId);
  expect(types.filter((t) => t === 'task.timed-out')).toHaveLength(1);
});

test('cancelling a running task aborts its handler; the task ends cancelled', async () => {
  const { operationId } = await submit(api, { type: 'system.sleep', data: { durationMs: 30_000 } });
  await waitForStatus(api, operationId, ['active']);
  const res = await api.call('DELETE', `/api/tasks/${operationId}`);
  expect(res.status).toBe(202);
  expect(['active', 'cancelled']).toContain(res.body.status);
  const final = await waitForStatus(api, operationId, undefined, 10_000);
  expect(final).toMatchObject({ status: 'cancelled', attempts: 1, error: { code: 'CANCELLED' } });
  expect(Date.parse(final.finishedAt) - Date.parse(res.body.updatedAt)).toBeLessThan(5000);
  expect(await eventTypes(operationId)).toEqual(['task.submitted', 'task.started', 'task.cancel-requested', 'task.cancelled']);
});

test('a scheduled task does not start before scheduledFor', async () => {
  const scheduledFor = new Date(Date.now() + 2000).toISOString();
  const { operationId } = await submit(api, { type: 'system.echo', scheduledFor });
  await sleep(600);
  expect((await api.call('GET', `/api/tasks/${operationId}/status`)).body.status).toBe('pending');
  const final = await waitForStatus(api, operationId);
  expect(final.status).toBe('completed');
  expect(Date.parse(final.startedAt)).toBeGreaterThanOrEqual(Date.parse(scheduledFor));
});

describe('recurring tasks', () => {
  test('each cron occurrence is its own task; the recurrence ends after maxOccurrences', async () => {
    const { operationId } = await submit(api, { type: 'system.echo', data: { value: 'tick' }, recurrence: { cron: '* * * * * *', maxOccurrences: 3 } });
    const parent = await waitForStatus(api, operationId, ['completed'], 20_000);
    expect(parent.recurrence).toMatchObject({ cron: '* * * * * *', timezone: 'UTC', occurrences: 3, stopped: true, nextRunAt: null, lastOccurrenceId: `${operationId}.3` });
    const children = await eventually(async () => {
      const list = (await api.call('GET', `/api/tasks?parentId=${operationId}`)).body.items;
      return list.length === 3 && list.every((t: { status: string }) => t.status === 'completed') ? list : undefined;
    }, 15_000);
    expect(children.map((c: { operationId: string }) => c.operationId).sort()).toEqual([1, 2, 3].map((n) => `${operationId}.${n}`));
    expect((await api.call('GET', `/api/tasks/${operationId}.2/result`)).body.result).toEqual({ echo: 'tick' });
    const runAts = children.map((c: { runAt: string }) => Date.parse(c.runAt)).sort();
    expect(runAts[1] - runAts[0]).toBeGreaterThanOrEqual(1000);
    expect(await eventTypes(operationId)).toEqual([
      'task.submitted',
      'task.recurrence.triggered',
      'task.recurrence.triggered',
      'task.recurrence.triggered',
      'task.recurrence.stopped',
    ]);
  });

  test('stop-recurring stops further occurrences', async () => {
    const { operationId } = await submit(api, { type: 'system.echo', recurrence: { cron: '* * * * * *' } });
    await eventually(async () => ((await api.call('GET', `/api/tasks/${operationId}/status`)).body.recurrence.occurrences >= 1 ? true : undefined), 15_000);
    const stopped = await api.call('POST', `/api/tasks/${operationId}/stop-recurring`);
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ status: 'completed', recurrence: { stopped: true, nextRunAt: null } });
    const occurrences = stopped.body.recurrence.occurrences;
    await sleep(2500);
    expect((await api.call('GET', `/api/tasks/${operationId}/status`)).body.recurrence.occurrences).toBe(occurrences);
    expect((await api.call('GET', `/api/tasks?parentId=${operationId}`)).body.items).toHaveLength(occurrences);
    expect((await api.call('POST', `/api/tasks/${operationId}/stop-recurring`)).body.code).toBe('TASK_FINISHED');
  });
});

test('a graceful stop gives a running attempt back without counting it; another instance finishes it', async () => {
  const ids = await Promise.all(Array.from({ length: 4 }, () => submit(api, { type: 'system.sleep', data: { durationMs: 3000 }, retry: { maxAttempts: 1 } }).then((t) => t.operationId)));
  await eventually(async () => {
    const statuses = await Promise.all(ids.map(async (id) => (await api.call('GET', `/api/tasks/${id}/status`)).body.status));
    return statuses.every((s) => s === 'active') ? true : undefined;
  }, 15_000);
  const second = await withEnv(PM_ENV, () => startTestProcessManager(api.databaseUrl));
  const first = pm;
  pm = second;
  await first.close();
  const finals = await Promise.all(ids.map((id) => waitForStatus(api, id, undefined, 30_000)));
  expect(finals.map((f) => [f.status, f.attempts])).toEqual(ids.map(() => ['completed', 2]));
  for (const id of ids) {
    const events = (await api.call('GET', `/api/tasks/${id}/events`)).body.items;
    expect(events.map((e: { type: string }) => e.type)).toEqual(['task.submitted', 'task.started', 'task.retry-scheduled', 'task.started', 'task.completed']);
    expect(events[2].data).toMatchObject({ charged: false, delayMs: 0, error: { code: 'WORKER_SHUTDOWN' } });
    expect(events[1].data.workerId).not.toBe(events[3].data.workerId);
  }
});
