import type { INestApplicationContext } from '@nestjs/common';
import { startTestApi, type TestApi } from '../support/api.js';
import { eventually } from '../support/problem.js';
import { startTestProcessManager } from '../support/process-manager.js';
import { submit, waitForStatus, withEnv } from '../support/tasks.js';

// Three slots: critical may use all three, normal and batch two (one is reserved for critical);
// batch never takes the normal reserve (0 here); at most one system.fail at a time.
const PM_ENV = {
  OPSLEDGER_TASKS_CONCURRENCY: '3',
  OPSLEDGER_TASKS_RESERVED_CRITICAL: '1',
  OPSLEDGER_TASKS_RESERVED_NORMAL: '0',
  OPSLEDGER_TASKS_TYPE_CONCURRENCY: 'system.fail=1',
};

let api: TestApi;
let pm: INestApplicationContext;

beforeAll(async () => {
  api = await startTestApi();
  pm = await withEnv(PM_ENV, () => startTestProcessManager(api.databaseUrl));
});
afterAll(async () => {
  await pm?.close();
  await api?.close();
});

const status = async (id: string) => (await api.call('GET', `/api/tasks/${id}/status`)).body;

test('with capacity saturated by batch work, a critical task starts at once and the next free slot goes to normal work', async () => {
  const batch: string[] = [];
  // 10 s each: long enough that, even on a loaded machine, the checks below run while they still hold their slots.
  for (let i = 0; i < 4; i++) batch.push((await submit(api, { type: 'system.sleep', priority: 'batch', data: { durationMs: 10_000, steps: 1 } })).operationId);
  // Two batch tasks take the two non-reserved slots; the others wait.
  const running = await eventually(async () => {
    const states = await Promise.all(batch.map(status));
    const active = states.filter((s) => s.status === 'active');
    return active.length === 2 ? states : undefined;
  }, 15_000);
  const waitingBatch = running.filter((s) => s.status === 'pending').map((s) => s.operationId);
  expect(waitingBatch).toHaveLength(2);

  const normal = (await submit(api, { type: 'system.sleep', priority: 'normal', data: { durationMs: 200, steps: 1 } })).operationId;
  const critical = await api.call('POST', '/api/tasks?wait=20', { type: 'system.echo', priority: 'critical', data: { value: 'now' } });
  expect(critical.status).toBe(200);
  expect(critical.body).toMatchObject({ status: 'completed', result: { echo: 'now' } });

  // The critical task finished while the batch work still held the other slots and everything else waited.
  const afterCritical = await Promise.all([...batch, normal].map(status));
  expect(afterCritical.filter((s) => s.status === 'active')).toHaveLength(2);
  expect((await status(normal)).status).toBe('pending');
  expect(Date.parse(critical.body.finishedAt)).toBeLessThan(Math.min(...afterCritical.filter((s) => s.status === 'active').map((s) => Date.parse(s.startedAt) + 10_000)));

  // When a batch task ends, the normal task takes its slot before the waiting batch tasks.
  const finals = await Promise.all([...batch, normal].map((id) => waitForStatus(api, id, undefined, 60_000)));
  expect(finals.every((f) => f.status === 'completed')).toBe(true);
  const startOf = (id: string) => Date.parse(finals.find((f) => f.operationId === id).startedAt);
  for (const id of waitingBatch) expect(startOf(normal)).toBeLessThanOrEqual(startOf(id));
}, 120_000);

test('a per-type limit runs that type one at a time while other work goes on', async () => {
  const limited = await Promise.all(Array.from({ length: 3 }, () => submit(api, { type: 'system.fail', data: { failAttempts: 0, delayMs: 400 } }).then((t) => t.operationId)));
  const other = await submit(api, { type: 'system.echo' }, { query: '?wait=20' });
  expect(other.status).toBe('completed');
  const finals = (await Promise.all(limited.map((id) => waitForStatus(api, id, undefined, 20_000)))).sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  expect(finals.every((f) => f.status === 'completed')).toBe(true);
  for (let i = 1; i < finals.length; i++) expect(Date.parse(finals[i].startedAt)).toBeGreaterThanOrEqual(Date.parse(finals[i - 1].finishedAt));
});
