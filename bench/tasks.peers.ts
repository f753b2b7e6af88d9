// Child process of the tasks bench: graphile-worker or pg-boss doing the same no-op jobs as our tasks,
// on its own database of the same server. Fresh process per contender (see runChild).
import { makeWorkerUtils, run } from 'graphile-worker';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { childMain, sleep } from './harness.js';

export interface PeerInput {
  peer: 'graphile-worker' | 'graphile-worker-batched' | 'pg-boss' | 'pg-boss-batched';
  databaseUrl: string;
  mode: 'drain' | 'latency';
  /** drain: jobs queued before the workers start. */
  jobs: number;
  /** latency: jobs per second, for seconds. */
  rate: number;
  seconds: number;
  concurrency: number;
}

export interface PeerResult {
  /** drain: jobs per second from the first job's start to the last completion. */
  throughput?: number;
  /** latency: submit → handler start, ms, sorted. */
  latencies?: number[];
}

interface Contender {
  add(count: number): Promise<void>;
  /** Submits one job carrying its submit time. */
  send(submittedAt: number): Promise<void>;
  start(handler: (submittedAt: number | null) => void): Promise<void>;
  remaining(): Promise<number>;
  stop(): Promise<void>;
}

/** batched: graphile's own batching (a local queue of locked jobs, completions batched) — its fastest mode. */
async function graphile(databaseUrl: string, concurrency: number, batched: boolean): Promise<Contender> {
  const utils = await makeWorkerUtils({ connectionString: databaseUrl });
  await utils.migrate();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  let runner: Awaited<ReturnType<typeof run>> | null = null;
  return {
    async add(count) {
      for (let i = 0; i < count; i += 500) await utils.addJobs(Array.from({ length: Math.min(500, count - i) }, () => ({ identifier: 'noop', payload: {} })));
    },
    async send(submittedAt) {
      await utils.addJob('noop', { submittedAt });
    },
    async start(handler) {
      runner = await run({
        connectionString: databaseUrl,
        concurrency,
        noHandleSignals: true,
        pollInterval: 1000,
        logger: new (await import('graphile-worker')).Logger(() => () => undefined),
        ...(batched ? { preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0 } } } : {}),
        taskList: { noop: async (payload) => handler((payload as { submittedAt?: number }).submittedAt ?? null) },
      });
    },
    async remaining() {
      return (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM graphile_worker._private_jobs')).rows[0].n;
    },
    async stop() {
      await runner?.stop();
      await utils.release();
      await pool.end();
    },
  };
}

/** 4 polling workers × batchSize jobs: 4 × 4 keeps 16 jobs in flight like the others; 4 × 100 is its throughput mode. */
async function pgBoss(databaseUrl: string, batchSize: number): Promise<Contender> {
  const boss = new PgBoss({ connectionString: databaseUrl, max: 10 });
  boss.on('error', () => undefined);
  await boss.start();
  await boss.createQueue('noop');
  return {
    async add(count) {
      for (let i = 0; i < count; i += 500) await boss.insert(Array.from({ length: Math.min(500, count - i) }, () => ({ name: 'noop', data: {} })));
    },
    async send(submittedAt) {
      await boss.send('noop', { submittedAt });
    },
    async start(handler) {
      // pg-boss 10 has no team size: one polling worker per work() call. After each fetch a worker waits out the
      // rest of its polling interval (0.5 s at least) even when the queue still holds jobs, so plain work() is
      // capped by the timer, not by the work: 4 workers × 4 jobs per 0.5 s = 32 jobs/s (5000 jobs: 156 s, past the
      // child's time limit). notifyWorker(id) is its documented way to skip the interval for the current loop
      // iteration: a worker whose batch came back full fetches again at once, as graphile-worker and ours do while
      // jobs are queued; a short batch means the queue is empty and it goes back to polling every 0.5 s.
      for (let w = 0; w < 4; w++) {
        let id: string | undefined;
        id = await boss.work<{ submittedAt?: number }>('noop', { batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
          for (const job of jobs) handler(job.data.submittedAt ?? null);
          if (jobs.length === batchSize && id) boss.notifyWorker(id);
        });
      }
    },
    async remaining() {
      return boss.getQueueSize('noop', { before: 'completed' });
    },
    async stop() {
      await boss.stop({ graceful: false, wait: true });
    },
  };
}

async function main(input: PeerInput): Promise<PeerResult> {
  const contender = input.peer.startsWith('pg-boss')
    ? await pgBoss(input.databaseUrl, input.peer === 'pg-boss-batched' ? 100 : Math.ceil(input.concurrency / 4))
    : await graphile(input.databaseUrl, input.concurrency, input.peer === 'graphile-worker-batched');
  try {
    if (input.mode === 'drain') {
      await contender.add(input.jobs);
      let first = 0;
      let handled = 0;
      await contender.start(() => {
        first ||= Date.now();
        handled++;
      });
      while ((await contender.remaining()) > 0) await sleep(10);
      const throughput = input.jobs / ((Date.now() - first) / 1000);
      if (handled < input.jobs) throw new Error(`${input.peer}: queue empty after ${handled} of ${input.jobs} handler calls`);
      return { throughput };
    }
    const latencies: number[] = [];
    await contender.start((submittedAt) => {
      if (submittedAt !== null) latencies.push(Date.now() - submittedAt);
    });
    const total = input.rate * input.seconds;
    const started = Date.now();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / input.rate;
      if (due > Date.now()) await sleep(due - Date.now());
      sends.push(contender.send(Date.now()));
    }
    await Promise.all(sends);
    while (latencies.length < total) await sleep(20);
    return { latencies: latencies.sort((a, b) => a - b) };
  } finally {
    await contender.stop();
  }
}

childMain(main);
