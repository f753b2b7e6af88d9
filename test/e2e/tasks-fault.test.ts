import { handleCommand, systemContext } from '@app/core';
import { EVENT_STORE, type EventStore } from '@app/event-store';
import { newOperationId, taskDecider, taskStreamId } from '@app/tasks';
import type pg from 'pg';
import { startTestApi, type TestApi } from '../support/api.js';
import { connectDatabase } from '../support/problem.js';
import { cleanEnv, distScript, eventually, spawnNode, type Spawned } from '../support/processes.js';
import { connectSocket, type SocketEvent, type TaskSocket } from '../support/tasks.js';

// Two process-manager instances as real processes share 1,000 tasks; one is killed with SIGKILL mid-way
// and started again. Every task must end in exactly one terminal state, each attempt must have run on
// one worker only (the one that claimed it), and no task may be lost.
const TASKS = 1000;
const LEASE_MS = 2000;

let api: TestApi;
let db: pg.Client;
let observer: TaskSocket;
const processes: Spawned[] = [];

function startProcessManager(): Spawned {
  const pm = spawnNode(
    distScript('apps/process-manager/src/main.js'),
    [],
    cleanEnv({ DATABASE_URL: api.databaseUrl, LOG_LEVEL: 'warn', OPSLEDGER_TASKS_LEASE_MS: String(LEASE_MS), OPSLEDGER_TASKS_CONCURRENCY: '16' }),
  );
  processes.push(pm);
  return pm;
}

beforeAll(async () => {
  api = await startTestApi();
  db = await connectDatabase(api.databaseUrl);
  observer = await connectSocket(api.url, api.ownerToken);
});
afterAll(async () => {
  observer?.close();
  for (const p of processes) await p.stop('SIGKILL');
  await db?.end();
  await api?.close();
});

async function count(sql: string): Promise<number> {
  return (await db.query<{ n: number }>(sql)).rows[0].n;
}

interface Row {
  stream_id: string;
  type: string;
  data: { attempt?: number; workerId?: string; error?: { code: string } };
}

test('1,000 tasks, two process managers, one killed with SIGKILL mid-way and restarted: every task ends once, no attempt runs twice', async () => {
  // Fine-grained progress reports which worker runs which attempt: the check that no attempt ran on two workers.
  await observer.subscribe({ types: ['task.progressed'] });

  // Submitted straight to the event store (the same TaskSubmitted events REST writes; REST is tested elsewhere),
  // queued before the process managers start, so they are still busy when one of them is killed.
  const store = api.app.get<EventStore>(EVENT_STORE);
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < TASKS) {
        const i = next++;
        const operationId = newOperationId();
        const now = new Date();
        await handleCommand(store, taskDecider, taskStreamId(operationId), {
          type: 'SubmitTask',
          operationId,
          taskType: 'system.sleep',
          data: { durationMs: 150, steps: 2 },
          priority: i % 10 === 0 ? 'critical' : i % 3 === 0 ? 'batch' : 'normal',
          notBefore: now,
          timeoutMs: 60_000,
          retry: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, jitter: true },
          recurrence: null,
          idempotencyKey: null,
          parent: null,
          now,
        }, systemContext('fault-test'));
        ids.push(operationId);
      }
    }),
  );

  const a = startProcessManager();
  const b = startProcessManager();
  await Promise.all([a, b].map((pm) => pm.waitForLine((l) => l.includes('process manager running'), 120_000)));
  // Mid-way: b is killed while it runs attempts, then started again.
  await eventually(async () => (await count(`SELECT count(*)::int AS n FROM es_events WHERE type = 'TaskCompleted'`)) >= TASKS * 0.3, 60_000, '30% completed');
  // Kill b only while it holds attempts: ones it started that have not ended yet (several run at once, 150 ms each).
  await eventually(
    async () =>
      (await count(`SELECT count(*)::int AS n FROM es_events s WHERE s.type = 'TaskStarted' AND s.data->>'workerId' LIKE '%:${b.pid}:%'
        AND NOT EXISTS (SELECT 1 FROM es_events e WHERE e.stream_id = s.stream_id AND e.revision > s.revision
          AND e.type IN ('TaskCompleted', 'TaskRetryScheduled', 'TaskFailed', 'TaskCancelled'))`)) >= 2,
    60_000,
    'b running attempts',
  );
  expect((await b.stop('SIGKILL')).signal).toBe('SIGKILL');
  const restarted = startProcessManager();
  await restarted.waitForLine((l) => l.includes('process manager running'), 120_000);

  await eventually(async () => (await count(`SELECT count(*)::int AS n FROM tasks WHERE status IN ('completed', 'failed', 'cancelled')`)) === TASKS, 90_000, 'every task to finish');

  // No task lost, each in exactly one terminal state.
  expect(ids).toHaveLength(TASKS);
  expect(await count(`SELECT count(*)::int AS n FROM es_events WHERE type = 'TaskSubmitted'`)).toBe(TASKS);
  const { rows: statuses } = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM tasks GROUP BY status');
  expect(statuses).toEqual([{ status: 'completed', n: TASKS }]);

  const { rows } = await db.query<Row>(`SELECT stream_id, type, data FROM es_events WHERE stream_id LIKE 'task-%' AND type LIKE 'Task%' ORDER BY stream_id, revision`);
  const streams = new Map<string, Row[]>();
  for (const row of rows) streams.set(row.stream_id, [...(streams.get(row.stream_id) ?? []), row]);
  expect(streams.size).toBe(TASKS);
  const workerOf = new Map<string, string>();
  const killedAttempts: string[] = [];
  for (const [stream, events] of streams) {
    const terminal = events.filter((e) => ['TaskCompleted', 'TaskFailed', 'TaskCancelled'].includes(e.type));
    expect(terminal).toHaveLength(1);
    expect(events[events.length - 1]).toBe(terminal[0]);
    // Attempts 1, 2, … each started once and ended (retry or completion) before the next one started.
    let open: number | null = null;
    let attempts = 0;
    for (const e of events) {
      if (e.type === 'TaskStarted') {
        expect(open).toBeNull();
        expect(e.data.attempt).toBe(++attempts);
        open = e.data.attempt!;
        workerOf.set(`${stream.slice(5)}#${open}`, e.data.workerId!);
      } else if (e.type === 'TaskRetryScheduled' || e.type === 'TaskCompleted') {
        expect(e.data.attempt).toBe(open);
        // An attempt of the killed instance can only have ended by another instance finding its lease expired.
        if (workerOf.get(`${stream.slice(5)}#${open}`)!.includes(`:${b.pid}:`) && e.type !== 'TaskCompleted') killedAttempts.push(e.data.error!.code);
        open = null;
      }
    }
  }
  // The kill hit running attempts; each was retried after its lease expired, none was lost or recorded twice.
  expect(killedAttempts.length).toBeGreaterThan(0);
  expect(new Set(killedAttempts)).toEqual(new Set(['WORKER_LOST']));
  const workers = [...new Set(workerOf.values())];
  for (const pm of [a, b]) expect(workers.some((w) => w.includes(`:${pm.pid}:`))).toBe(true);

  // Every progress report of an attempt came from the worker that claimed it.
  const progress = observer.events.filter((e: SocketEvent) => e.type === 'task.progressed' && e.position === null);
  expect(progress.length).toBeGreaterThan(TASKS);
  const strays = progress.filter((e) => workerOf.get(`${e.data.operationId}#${e.data.attempt}`) !== e.data.workerId);
  expect(strays).toEqual([]);
}, 400_000);
