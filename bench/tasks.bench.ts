// Section "tasks": the api and the process manager run as real child processes (as `npm start` runs them).
//   drain      N no-op tasks (system.echo) queued, then drained: tasks/s from the first start to the last
//              completion, beside graphile-worker and pg-boss draining the same number of no-op jobs
//   latency    submit → start at a steady 200 tasks/s (ours through REST, the peers through their client)
//   fan-out    a task event to 500 connected Socket.IO clients, beside a bare socket.io server broadcasting
// Every contender gets its own database on the same server; peers run in fresh child processes.
import { handleCommand, systemContext } from '@app/core';
import { createPool } from '@app/database';
import { PostgresEventStore } from '@app/event-store';
import { newOperationId, taskDecider, taskStreamId } from '@app/tasks';
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Server } from 'socket.io';
import { Agent, request } from 'undici';
import { type BenchContext, type BenchSection, formatNumber, percentile, runChild, sleep } from './harness.js';
import type { PeerInput, PeerResult } from './tasks.peers.js';

const DRAIN_TASKS = Number(process.env.BENCH_TASKS_DRAIN ?? 5000);
/** Submissions per second of the latency runs; the target is at 200/s. */
const RATES = (process.env.BENCH_TASKS_RATES ?? '50,200').split(',').map(Number);
const LATENCY_SECONDS = Number(process.env.BENCH_TASKS_LATENCY_SECONDS ?? 10);
const FANOUT_CLIENTS = 500;
const FANOUT_TASKS = 20;
const CONCURRENCY = 16;
/**
 * Keep-alive connections of the latency runs' REST client. Bounded, as a real client pool is: with one new
 * connection per request in flight (fetch's default), a stall of the api on the loaded machine turns into hundreds
 * of connects that overflow its listen backlog (connect timeouts, resets) instead of requests waiting their turn.
 */
const SUBMIT_CONNECTIONS = 32;
/** BENCH_TASKS_PARTS=drain,latency,fanout (default: all). */
const PARTS = new Set((process.env.BENCH_TASKS_PARTS ?? 'drain,latency,fanout').split(','));
const TOKEN = 'opl_bench-owner-token-0123456789abcdef';
const dist = (p: string) => fileURLToPath(new URL(`../apps/${p}`, import.meta.url));

interface Proc {
  child: ChildProcess;
  port: number;
}

function start(script: string, env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let buffer = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const m = /"msg":"(api listening|process manager running)"(?:,"port":(\d+))?/.exec(buffer);
      if (m) resolve({ child, port: Number(m[2] ?? 0) });
      if (buffer.length > 1 << 20) buffer = buffer.slice(-4096);
    });
    child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.on('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

async function stopAll(procs: Proc[]): Promise<void> {
  for (const p of procs) p.child.kill('SIGTERM');
  await sleep(1000);
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
}

function env(databaseUrl: string): Record<string, string> {
  return { DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', OPSLEDGER_OWNER_TOKEN: TOKEN, LOG_LEVEL: 'warn', OPSLEDGER_DATA_DIR: `/tmp/opsledger-bench-${process.pid}`, OPSLEDGER_TASKS_CONCURRENCY: String(CONCURRENCY) };
}

async function queue(databaseUrl: string, count: number): Promise<void> {
  const pool = createPool(databaseUrl, { max: 16 });
  const store = new PostgresEventStore(pool, { connectionString: databaseUrl });
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next++ < count) {
        const operationId = newOperationId();
        const now = new Date();
        await handleCommand(
          store,
          taskDecider,
          taskStreamId(operationId),
          {
            type: 'SubmitTask',
            operationId,
            taskType: 'system.echo',
            data: {},
            priority: 'normal',
            notBefore: now,
            timeoutMs: 10_000,
            retry: { maxAttempts: 3, initialDelayMs: 1000, maxDelayMs: 60_000, multiplier: 2, jitter: true },
            recurrence: null,
            idempotencyKey: null,
            parent: null,
            now,
          },
          systemContext('bench'),
          { expectedRevision: 'no_stream' },
        );
      }
    }),
  );
  await store.close();
  await pool.end();
}

async function waitForCompleted(db: pg.Client, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM es_events WHERE type = 'TaskCompleted'`);
    if (rows[0].n >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${rows[0].n} of ${count} tasks completed in time`);
    await sleep(50);
  }
}

/** Our drain: the tasks are queued (the same TaskSubmitted events REST writes), then the process manager starts. */
async function ourDrain(ctx: BenchContext): Promise<number> {
  const databaseUrl = await ctx.createDatabase('tasks_drain');
  const api = await start(dist('api/src/main.js'), env(databaseUrl));
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  let pm: Proc | null = null;
  try {
    await queue(databaseUrl, DRAIN_TASKS);
    pm = await start(dist('process-manager/src/main.js'), env(databaseUrl));
    await waitForCompleted(db, DRAIN_TASKS, 300_000);
    const { rows } = await db.query<{ first: Date; last: Date }>(
      `SELECT (SELECT min(created_at) FROM es_events WHERE type = 'TaskStarted') AS first, (SELECT max(created_at) FROM es_events WHERE type = 'TaskCompleted') AS last`,
    );
    return DRAIN_TASKS / ((rows[0].last.getTime() - rows[0].first.getTime()) / 1000);
  } finally {
    await db.end();
    await stopAll(pm ? [api, pm] : [api]);
  }
}

/** Our submit → start: REST submissions at a steady rate; the start time is the TaskStarted event's. */
async function ourLatency(ctx: BenchContext, rate: number): Promise<number[]> {
  const databaseUrl = await ctx.createDatabase('tasks_latency');
  const api = await start(dist('api/src/main.js'), env(databaseUrl));
  const pm = await start(dist('process-manager/src/main.js'), env(databaseUrl));
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const base = `http://127.0.0.1:${api.port}/api/tasks`;
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const dispatcher = new Agent({ connections: SUBMIT_CONNECTIONS });
  const submit = async () => {
    const res = await request(base, { method: 'POST', headers, body: JSON.stringify({ type: 'system.echo' }), dispatcher });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`POST /api/tasks answered ${res.statusCode}: ${text.slice(0, 500)}`);
    return JSON.parse(text) as { operationId: string };
  };
  try {
    for (let i = 0; i < 200; i++) await submit(); // warm-up
    const submittedAt = new Map<string, number>();
    const total = rate * LATENCY_SECONDS;
    const began = Date.now();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = began + (i * 1000) / rate;
      if (due > Date.now()) await sleep(due - Date.now());
      const at = Date.now();
      sends.push(
        submit().then(
          (r) => void submittedAt.set(r.operationId, at),
          (error: Error) => {
            throw new Error(`submit failed: ${String((error as { cause?: unknown }).cause ?? error)}`);
          },
        ),
      );
    }
    await Promise.all(sends);
    await waitForCompleted(db, total + 200, 120_000);
    const { rows } = await db.query<{ id: string; started: string }>(`SELECT data->>'operationId' AS id, data->>'startedAt' AS started FROM es_events WHERE type = 'TaskStarted'`);
    return rows.filter((r) => submittedAt.has(r.id)).map((r) => Date.parse(r.started) - submittedAt.get(r.id)!).sort((a, b) => a - b);
  } finally {
    await dispatcher.close();
    await db.end();
    await stopAll([api, pm]);
  }
}

function clientsProcess(startMessage: { url: string; token: string | null; clients: number; mode: 'ours' | 'raw' }) {
  const child = fork(new URL('./tasks-fanout.clients.js', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <T>() => new Promise<T>((resolve, reject) => child.once('message', (m: T & { error?: string }) => (m.error ? reject(new Error(m.error)) : resolve(m))));
  return {
    async ready(): Promise<void> {
      const ready = next<{ ready: true }>();
      child.send({ start: startMessage });
      await ready;
    },
    async finish(): Promise<number[]> {
      const result = next<{ latencies: number[] }>();
      child.send({ done: true });
      return (await result).latencies.sort((a, b) => a - b);
    },
  };
}

async function ourFanout(ctx: BenchContext): Promise<number[]> {
  const databaseUrl = await ctx.createDatabase('tasks_fanout');
  const api = await start(dist('api/src/main.js'), env(databaseUrl));
  const pm = await start(dist('process-manager/src/main.js'), env(databaseUrl));
  try {
    const clients = clientsProcess({ url: `http://127.0.0.1:${api.port}`, token: TOKEN, clients: FANOUT_CLIENTS, mode: 'ours' });
    await clients.ready();
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    for (let i = 0; i < FANOUT_TASKS; i++) {
      await fetch(`http://127.0.0.1:${api.port}/api/tasks`, { method: 'POST', headers, body: JSON.stringify({ type: 'system.echo', data: { value: i } }) });
      await sleep(250);
    }
    await sleep(2000);
    return await clients.finish();
  } finally {
    await stopAll([api, pm]);
  }
}

/** The baseline: a bare socket.io server (no adapter, no database) broadcasting to the same number of clients. */
async function rawFanout(): Promise<number[]> {
  const http = createServer();
  const io = new Server(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  try {
    const clients = clientsProcess({ url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, token: null, clients: FANOUT_CLIENTS, mode: 'raw' });
    await clients.ready();
    // The same rhythm as ours: a task gives three events (submitted, started, completed) close together, every 250 ms.
    for (let i = 0; i < FANOUT_TASKS; i++) {
      for (let e = 0; e < 3; e++) io.emit('raw', { timestamp: Date.now() });
      await sleep(250);
    }
    await sleep(1000);
    return await clients.finish();
  } finally {
    io.close();
  }
}

async function peer(ctx: BenchContext, peerName: PeerInput['peer'], mode: PeerInput['mode'], rate = 0): Promise<PeerResult> {
  const databaseUrl = await ctx.createDatabase(`${peerName}_${mode}`);
  return runChild<PeerInput, PeerResult>(new URL('./tasks.peers.js', import.meta.url), {
    peer: peerName,
    databaseUrl,
    mode,
    jobs: DRAIN_TASKS,
    rate,
    seconds: LATENCY_SECONDS,
    concurrency: CONCURRENCY,
  });
}

const stats = (sorted: number[]) => `p50 ${formatNumber(percentile(sorted, 50))} ms, p99 ${formatNumber(percentile(sorted, 99))} ms (${sorted.length} samples)`;

async function run(ctx: BenchContext): Promise<void> {
  if (PARTS.has('drain')) await drain(ctx);
  if (PARTS.has('latency')) await latency(ctx);
  if (PARTS.has('fanout')) await fanout(ctx);
}

async function drain(ctx: BenchContext): Promise<void> {
  ctx.report.log(`drain of ${DRAIN_TASKS} no-op tasks`);
  const ours = await ourDrain(ctx);
  ctx.report.log(`ours: ${formatNumber(ours)} tasks/s`);
  const graphileDrain = (await peer(ctx, 'graphile-worker', 'drain')).throughput!;
  ctx.report.log(`graphile-worker: ${formatNumber(graphileDrain)} jobs/s`);
  const graphileBatched = (await peer(ctx, 'graphile-worker-batched', 'drain')).throughput!;
  ctx.report.log(`graphile-worker, batched: ${formatNumber(graphileBatched)} jobs/s`);
  const bossDrain = (await peer(ctx, 'pg-boss', 'drain')).throughput!;
  ctx.report.log(`pg-boss: ${formatNumber(bossDrain)} jobs/s`);
  const bossBatched = (await peer(ctx, 'pg-boss-batched', 'drain')).throughput!;
  ctx.report.log(`pg-boss, batches of 100: ${formatNumber(bossBatched)} jobs/s`);
  ctx.report.row({ metric: 'drain tasks/s (no-op)', ours, peer: 'graphile-worker', peerValue: graphileDrain, target: { min: 0.5 }, unit: 'tasks/s' });
  ctx.report.row({ metric: 'drain tasks/s (no-op)', ours, peer: 'graphile (batched)', peerValue: graphileBatched, unit: 'tasks/s' });
  ctx.report.row({ metric: 'drain tasks/s (no-op)', ours, peer: 'pg-boss', peerValue: bossDrain, target: { min: 1 }, unit: 'tasks/s' });
  ctx.report.row({ metric: 'drain tasks/s (no-op)', ours, peer: 'pg-boss (batch 100)', peerValue: bossBatched, unit: 'tasks/s' });

  ctx.report.note(`drain: ${DRAIN_TASKS} tasks queued first; ours from the first TaskStarted to the last TaskCompleted (event times), api projections running; peers from the first handler call until their queue is empty; concurrency ${CONCURRENCY} for ours and graphile-worker (defaults; "batched": its local queue of 500 and batched completions); pg-boss 4 workers × batches of 4 (16 in flight), "batch 100": 4 × 100; 0.5 s polling, its minimum, and a worker whose batch came back full fetches again at once (notifyWorker) instead of idling out the interval`);
}

async function latency(ctx: BenchContext): Promise<void> {
  for (const rate of RATES) {
    ctx.report.log(`submit → start at ${rate}/s for ${LATENCY_SECONDS} s`);
    const ours = await ourLatency(ctx, rate);
    ctx.report.log(`ours: ${stats(ours)}`);
    const graphileLatency = (await peer(ctx, 'graphile-worker', 'latency', rate)).latencies!;
    ctx.report.log(`graphile-worker: ${stats(graphileLatency)}`);
    const bossLatency = (await peer(ctx, 'pg-boss-batched', 'latency', rate)).latencies!;
    ctx.report.log(`pg-boss: ${stats(bossLatency)}`);
    ctx.report.row({ metric: `submit→start p50 @${rate}/s`, ours: percentile(ours, 50), peer: 'graphile-worker', peerValue: percentile(graphileLatency, 50), unit: 'ms' });
    ctx.report.row({ metric: `submit→start p99 @${rate}/s`, ours: percentile(ours, 99), peer: 'graphile-worker', peerValue: percentile(graphileLatency, 99), target: rate === 200 ? { max: 2 } : undefined, unit: 'ms' });
    ctx.report.row({ metric: `submit→start p99 @${rate}/s`, ours: percentile(ours, 99), peer: 'pg-boss', peerValue: percentile(bossLatency, 99), unit: 'ms' });
  }
  ctx.report.note(`submit→start: ours through REST POST /api/tasks (auth, validation, read-your-writes; ${SUBMIT_CONNECTIONS} keep-alive connections, a submit waiting for a free one counts that wait) to the TaskStarted event; peers through their client (graphile addJob, pg-boss send) to the handler call; pg-boss polls every 0.5 s (batches of 100; a full batch fetches again at once)`);
}

async function fanout(ctx: BenchContext): Promise<void> {
  ctx.report.log(`fan-out to ${FANOUT_CLIENTS} Socket.IO clients`);
  const fanout = await ourFanout(ctx);
  ctx.report.log(`ours: ${stats(fanout)}`);
  const raw = await rawFanout();
  ctx.report.log(`bare socket.io: ${stats(raw)}`);
  ctx.report.row({ metric: `fan-out p50 to ${FANOUT_CLIENTS} clients`, ours: percentile(fanout, 50), peer: 'bare socket.io', peerValue: percentile(raw, 50), unit: 'ms' });
  ctx.report.row({ metric: `fan-out p99 to ${FANOUT_CLIENTS} clients`, ours: percentile(fanout, 99), peer: 'bare socket.io', peerValue: percentile(raw, 99), unit: 'ms' });
  ctx.report.note(`fan-out p99 target ≤ 100 ms (ours: ${formatNumber(percentile(fanout, 99))} ms): event time (append) → received by each of ${FANOUT_CLIENTS} clients in one child process; includes the process manager's read, the NOTIFY to the api node and the delivery`);
}

export const tasksBench: BenchSection = { name: 'tasks', title: 'tasks: drain, submit→start latency, Socket.IO fan-out vs graphile-worker, pg-boss, bare socket.io', run };
