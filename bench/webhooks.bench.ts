// Section "webhooks": delivery by the process manager against a raw undici POST loop to the same receiver.
// The api and the process manager run as real child processes (as `npm start` runs them) on one database;
// the receiver (node:http) runs in a child process of its own (webhooks.receiver.ts) and the event writer in
// this one; both read the wall clock: the writer stamps sentAt into the event just before appending it, the
// receiver subtracts it on arrival.
//   throughput: 10,000 events appended at once (16 writers), each fanned out to 3 endpoints (30,000
//               deliveries); deliveries/s from the first append to the last receipt.
//   backlog:    the same 10,000 events written while the process manager is stopped (SIGSTOP), then
//               resumed: deliveries/s from the resume to the last receipt (informational: delivery capacity
//               without the writer's appends competing for the two cores).
//   (after each burst, a VACUUM (ANALYZE) of the database: see settle below)
//   paced:      events at 500/s for 5 s, event → receipt p50/p99 (target p99 ≤ 100 ms); and at 20/s, a
//               rate far below saturation, for the latency of the pipeline itself.
//   raw loop:   the same receiver, undici POSTs of a body of the same size: 30,000 with the dispatcher's
//               concurrency (3 endpoints × 10), then at the paced rate (3 POSTs per event); and once more
//               committing one row per POST (informational: the least a system that records deliveries does).
import { createPool } from '@app/database';
import { PostgresEventStore } from '@app/event-store';
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { type BenchContext, type BenchSection, formatNumber, percentile, sleep } from './harness.js';

const EVENTS = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 10_000);
const PACED_RATE = 500;
const LIGHT_RATE = 20;
const PACED_SECONDS = 5;
const ENDPOINTS = 3;
const CONCURRENCY = Number(process.env.BENCH_WEBHOOK_CONCURRENCY ?? 10);
const TOKEN = 'opl_bench-owner-token-0123456789abcdef';
const PAD = 'x'.repeat(200);
const dist = (p: string) => fileURLToPath(new URL(`../apps/${p}`, import.meta.url));
const now = () => performance.timeOrigin + performance.now();

/** The receiver child (webhooks.receiver.ts): event → receipt latencies of the next `n` requests. */
class Receiver {
  latencies: number[] = [];
  lastAt = 0;
  private readonly child = fork(new URL('./webhooks.receiver.js', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  private next: ((m: any) => void) | null = null;

  constructor() {
    this.child.on('message', (m) => this.next?.(m));
  }

  private ask<T>(message: unknown): Promise<T> {
    return new Promise((resolve) => {
      this.next = resolve;
      if (message) this.child.send(message as object);
    });
  }

  async listen(): Promise<string> {
    return (await this.ask<{ url: string }>(null)).url;
  }

  async reset(): Promise<void> {
    await this.ask({ type: 'reset' });
  }

  async until(n: number, timeoutMs: number): Promise<void> {
    const m = await this.ask<{ type: string; latencies: number[]; lastAt: number; received: number }>({ type: 'until', n, timeoutMs });
    if (m.type !== 'reached') throw new Error(`only ${m.received} of ${n} receipts after ${timeoutMs} ms`);
    this.latencies = m.latencies;
    this.lastAt = m.lastAt;
  }

  async close(): Promise<void> {
    this.child.disconnect();
  }
}

function startProcess(script: string, env: Record<string, string>): { child: ChildProcess; ready: Promise<number> } {
  // BENCH_CPU_PROF=1 (as for runChild): a .cpuprofile of the api and the process manager in ./bench-profiles.
  const execArgv = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=bench-profiles'] : [];
  const child = spawn(process.execPath, [...execArgv, script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let buffer = '';
  const ready = new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const m = /"msg":"(api listening|process manager running)"(?:,"port":(\d+))?/.exec(buffer);
      if (m) resolve(Number(m[2] ?? 0));
      if (buffer.length > 1 << 20) buffer = buffer.slice(-4096);
    });
    child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.on('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { child, ready };
}

const stats = (latencies: number[]) => {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
};

async function run(ctx: BenchContext): Promise<void> {
  const databaseUrl = await ctx.createDatabase('webhooks');
  const receiver = new Receiver();
  const receiverUrl = await receiver.listen();
  const env = {
    DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', OPSLEDGER_OWNER_TOKEN: TOKEN, LOG_LEVEL: 'warn',
    OPSLEDGER_DATA_DIR: `/tmp/opsledger-bench-webhooks-${process.pid}`, OPSLEDGER_WEBHOOK_ALLOWLIST: '127.0.0.1/32',
  };
  const api = startProcess(dist('api/src/main.js'), env);
  const port = await api.ready;
  const pm = startProcess(dist('process-manager/src/main.js'), env);
  await pm.ready;
  const pool = createPool(databaseUrl, { max: 20, applicationName: 'bench-writer' });
  const store = new PostgresEventStore(pool, { connectionString: databaseUrl });
  const agent = new Agent({ connections: 64 });
  try {
    for (let i = 1; i <= ENDPOINTS; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/api/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `bench ${i}`, url: `${receiverUrl}/${i}`, events: ['bench.*'], maxConcurrency: CONCURRENCY }),
      });
      if (res.status !== 201) throw new Error(`create endpoint: ${res.status} ${await res.text()}`);
    }
    const append = (n: number) =>
      store.appendToStream(`webhook-custom-${randomUUID()}`, [
        {
          id: randomUUID(),
          type: 'WebhookCustomEventTriggered',
          data: { type: 'bench.event', data: { n, sentAt: now(), pad: PAD } },
          metadata: { actor: { kind: 'system', id: 'bench' }, correlationId: randomUUID(), causationId: randomUUID() },
        },
      ]);
    const appendAll = async (count: number, writers: number) => {
      let next = 0;
      await Promise.all(Array.from({ length: writers }, async () => {
        while (next < count) await append(next++);
      }));
    };
    const paced = async (rate: number, fire: (n: number) => Promise<unknown>) => {
      const total = rate * PACED_SECONDS;
      const started = now();
      const inFlight: Promise<unknown>[] = [];
      for (let n = 0; n < total; n++) {
        const due = started + (n * 1000) / rate;
        const wait = due - now();
        if (wait > 1) await sleep(wait);
        inFlight.push(fire(n));
      }
      await Promise.all(inFlight);
      return total;
    };

    ctx.report.log('warm-up: 300 events');
    await appendAll(300, 8);
    await receiver.until(300 * ENDPOINTS, 120_000);

    const latencyAt = async (rate: number, fire: (n: number) => Promise<unknown>) => {
      await receiver.reset();
      const events = await paced(rate, fire);
      await receiver.until(events * ENDPOINTS, 300_000);
      return stats(receiver.latencies);
    };
    ctx.report.log(`light: ${LIGHT_RATE} events/s for ${PACED_SECONDS} s`);
    const oursLight = await latencyAt(LIGHT_RATE, (n) => append(n));
    ctx.report.log(`ours light: p50 ${formatNumber(oursLight.p50)} ms, p99 ${formatNumber(oursLight.p99)} ms`);

    ctx.report.log(`throughput: ${EVENTS} events × ${ENDPOINTS} endpoints`);
    await receiver.reset();
    const started = now();
    await appendAll(EVENTS, 16);
    const appended = now();
    await receiver.until(EVENTS * ENDPOINTS, 600_000);
    const oursRate = (EVENTS * ENDPOINTS) / ((receiver.lastAt - started) / 1000);
    const oursLoaded = stats(receiver.latencies);
    ctx.report.log(`ours: ${formatNumber(oursRate)} deliveries/s (appends took ${formatNumber((appended - started) / 1000)} s), p50 ${formatNumber(oursLoaded.p50)} ms, p99 ${formatNumber(oursLoaded.p99)} ms`);

    // After each burst, what autovacuum would otherwise do at some moment within the next minute (naptime 60 s),
    // in the middle of the next measured run: the cleanup of 30,000 deliveries on two shared cores delayed the
    // paced run's deliveries by up to 0.7 s when it landed there.
    const settle = async () => {
      ctx.report.log('VACUUM (ANALYZE) after the burst');
      await pool.query('VACUUM (ANALYZE)');
    };
    await settle();
    // Delivery capacity proper: the same 10,000 events already written while the process manager was
    // stopped (SIGSTOP), then resumed (SIGCONT): from the resume to the last receipt, it routes and delivers a
    // backlog, as after a restart or an outage of the process manager.
    ctx.report.log(`backlog: ${EVENTS} events written while the process manager is stopped`);
    await receiver.reset();
    pm.child.kill('SIGSTOP');
    const writing = now();
    await appendAll(EVENTS, 16);
    const resumed = now();
    ctx.report.log(`the writer alone (nothing delivering): ${formatNumber(EVENTS / ((resumed - writing) / 1000))} appends/s`);
    pm.child.kill('SIGCONT');
    await receiver.until(EVENTS * ENDPOINTS, 600_000);
    const oursBacklogRate = (EVENTS * ENDPOINTS) / ((receiver.lastAt - resumed) / 1000);
    ctx.report.log(`ours backlog: ${formatNumber(oursBacklogRate)} deliveries/s`);

    await settle();
    ctx.report.log(`paced: ${PACED_RATE} events/s for ${PACED_SECONDS} s`);
    const oursPaced = await latencyAt(PACED_RATE, (n) => append(n));
    ctx.report.log(`ours paced: p50 ${formatNumber(oursPaced.p50)} ms, p99 ${formatNumber(oursPaced.p99)} ms`);

    const body = (n: number) => JSON.stringify({ type: 'bench.event', timestamp: new Date().toISOString(), data: { n, sentAt: now(), pad: PAD } });
    const post = (path: string, n: number) =>
      request(`${receiverUrl}${path}`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': `msg_${n}` }, body: body(n) }).then((r) => r.body.dump());
    ctx.report.log('raw undici loop');
    await receiver.reset();
    const rawStarted = now();
    let rawNext = 0;
    await Promise.all(Array.from({ length: ENDPOINTS * CONCURRENCY }, async (_, w) => {
      const path = `/${(w % ENDPOINTS) + 1}`;
      while (rawNext < EVENTS * ENDPOINTS) await post(path, rawNext++);
    }));
    await receiver.until(EVENTS * ENDPOINTS, 60_000);
    const rawRate = (EVENTS * ENDPOINTS) / ((receiver.lastAt - rawStarted) / 1000);

    // The same loop recording each delivery durably: one row per POST with its status, committed before the
    // next POST of that worker (what the least a delivery system that can answer "was it delivered?" does).
    ctx.report.log('raw undici loop + one INSERT per POST');
    await pool.query('CREATE TABLE bench_raw_deliveries (id integer PRIMARY KEY, endpoint integer NOT NULL, status integer NOT NULL, at timestamptz NOT NULL DEFAULT now())');
    const recordPool = createPool(databaseUrl, { max: ENDPOINTS * CONCURRENCY, applicationName: 'bench-raw-record' });
    let recordedRate: number;
    try {
      await receiver.reset();
      const recordStarted = now();
      let recordNext = 0;
      await Promise.all(Array.from({ length: ENDPOINTS * CONCURRENCY }, async (_, w) => {
        const endpoint = (w % ENDPOINTS) + 1;
        while (recordNext < EVENTS * ENDPOINTS) {
          const n = recordNext++;
          const res = await request(`${receiverUrl}/${endpoint}`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': `msg_${n}` }, body: body(n) });
          await res.body.dump();
          await recordPool.query('INSERT INTO bench_raw_deliveries (id, endpoint, status) VALUES ($1, $2, $3)', [n, endpoint, res.statusCode]);
        }
      }));
      await receiver.until(EVENTS * ENDPOINTS, 60_000);
      recordedRate = (EVENTS * ENDPOINTS) / ((now() - recordStarted) / 1000);
    } finally {
      await recordPool.end();
    }
    const fanOut = (n: number) => Promise.all(Array.from({ length: ENDPOINTS }, (_, i) => post(`/${i + 1}`, n)));
    const rawPaced = await latencyAt(PACED_RATE, fanOut);
    const rawLight = await latencyAt(LIGHT_RATE, fanOut);
    ctx.report.log(`raw: ${formatNumber(rawRate)} POSTs/s; at ${PACED_RATE}/s p50 ${formatNumber(rawPaced.p50)} ms, p99 ${formatNumber(rawPaced.p99)} ms; at ${LIGHT_RATE}/s p99 ${formatNumber(rawLight.p99)} ms`);

    ctx.report.row({ metric: `deliveries/s (${EVENTS} events × ${ENDPOINTS})`, ours: oursRate, peer: 'raw undici loop', peerValue: rawRate, target: { min: 0.5 }, unit: '/s' });
    ctx.report.row({ metric: `deliveries/s (${EVENTS} events × ${ENDPOINTS})`, ours: oursRate, peer: 'raw loop + INSERT per POST', peerValue: recordedRate, unit: '/s' });
    ctx.report.row({ metric: `deliveries/s, backlog of ${EVENTS} events × ${ENDPOINTS}`, ours: oursBacklogRate, peer: 'raw undici loop', peerValue: rawRate, unit: '/s' });
    ctx.report.row({ metric: `event→receipt p50 at ${PACED_RATE} events/s`, ours: oursPaced.p50, peer: 'raw undici loop', peerValue: rawPaced.p50, unit: 'ms' });
    ctx.report.row({ metric: `event→receipt p99 at ${PACED_RATE} events/s`, ours: oursPaced.p99, peer: 'raw undici loop', peerValue: rawPaced.p99, unit: 'ms' });
    ctx.report.row({ metric: `event→receipt p50 at ${LIGHT_RATE} events/s`, ours: oursLight.p50, peer: 'raw undici loop', peerValue: rawLight.p50, unit: 'ms' });
    ctx.report.row({ metric: `event→receipt p99 at ${LIGHT_RATE} events/s`, ours: oursLight.p99, peer: 'raw undici loop', peerValue: rawLight.p99, unit: 'ms' });
    ctx.report.note(`target event→receipt p99 ≤ 100 ms at ${PACED_RATE} events/s: ${oursPaced.p99 <= 100 ? 'met' : 'MISSED'} (${formatNumber(oursPaced.p99)} ms); throughput run: event→receipt p50 ${formatNumber(oursLoaded.p50)} ms, p99 ${formatNumber(oursLoaded.p99)} ms (queueing: all events written at once)`);
    ctx.report.note(`each delivery: a queue row (router), read and deleted by the endpoint's owner (claim rounds), a Standard Webhooks signature, its Scheduled + Attempted + Succeeded record (first-attempt successes in batch events), the api projecting the delivery history; endpoints at maxConcurrency ${CONCURRENCY}; raw loop: ${ENDPOINTS * CONCURRENCY} concurrent undici POSTs, no signing, nothing recorded; "+ INSERT per POST": the same loop committing one row per delivery (informational, no target); "backlog": the 10,000 events written while the process manager was stopped, timed from its resume (informational: no appends competing); a VACUUM (ANALYZE) after each burst, so that autovacuum's cleanup of it does not land inside the next measured run`);
  } finally {
    await agent.close();
    await store.close();
    await pool.end();
    await receiver.close();
    for (const p of [api.child, pm.child]) p.kill('SIGTERM');
    await sleep(process.env.BENCH_CPU_PROF ? 5000 : 500);
    for (const p of [api.child, pm.child]) if (p.exitCode === null) p.kill('SIGKILL');
  }
}

export const webhooks: BenchSection = { name: 'webhooks', title: 'webhook delivery vs a raw undici POST loop to the same receiver', run };
