// Section "key-value HTTP": the api and the process manager run as real child processes (as `npm start`
// runs them) on one database; autocannon (50 connections, in this process) measures requests/s of
//   bare   GET /api/health/live — the same server, router, guard and filters, no database work
//   GET    GET /api/key-value/:key — token check (cached), one indexed read
//   PUT    PUT /api/key-value/:key — token check, read stream + decide + append, then wait until the
//          key-value projection applied it (read-your-writes), then read the entry back
// Peak RSS (VmHWM) of the api and the process manager is read from /proc after the runs.
import autocannon from 'autocannon';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type BenchContext, type BenchSection, formatNumber, sleep } from './harness.js';

const CONNECTIONS = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 50);
const DURATION_S = Number(process.env.BENCH_HTTP_SECONDS ?? 8);
const KEYS = 2000;
const TOKEN = 'opl_bench-owner-token-0123456789abcdef';
const dist = (p: string) => fileURLToPath(new URL(`../apps/${p}`, import.meta.url));

function startProcess(script: string, env: Record<string, string>): { child: ChildProcess; ready: Promise<number> } {
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=bench-profiles'] : [];
  const child = spawn(process.execPath, [...profile, script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

async function load(url: string, request: autocannon.Request, label: string, ctx: BenchContext): Promise<autocannon.Result> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, requests: [request] });
  const errors = result.non2xx + result.errors + result.timeouts;
  ctx.report.log(`${label}: ${formatNumber(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, errors ${errors}`);
  if (errors > 0) throw new Error(`${label}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  return result;
}

async function run(ctx: BenchContext): Promise<void> {
  const databaseUrl = await ctx.createDatabase('kv_http');
  const env = { DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', OPSLEDGER_OWNER_TOKEN: TOKEN, LOG_LEVEL: 'warn', OPSLEDGER_RATE_LIMIT_PER_MINUTE: '1000000', OPSLEDGER_DATA_DIR: `/tmp/opsledger-bench-${process.pid}` };
  const api = startProcess(dist('api/src/main.js'), env);
  const port = await api.ready;
  const pm = startProcess(dist('process-manager/src/main.js'), env);
  await pm.ready;
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  try {
    // Seed the keys the GET run reads.
    for (let i = 0; i < KEYS; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          fetch(`${base}/api/key-value/bench%2Fk${i + j}`, { method: 'PUT', headers: auth, body: JSON.stringify({ value: { n: i + j, payload: 'x'.repeat(64) } }) }),
        ),
      );
    }
    await load(base, { method: 'GET', path: '/api/health/live' }, 'warm-up', ctx);
    const bare = await load(base, { method: 'GET', path: '/api/health/live' }, 'bare endpoint', ctx);
    const get = await load(
      base,
      { method: 'GET', headers: auth, setupRequest: (req) => ({ ...req, path: `/api/key-value/bench%2Fk${Math.floor(Math.random() * KEYS)}` }) },
      'key-value GET',
      ctx,
    );
    let n = 0;
    const put = await load(
      base,
      {
        method: 'PUT',
        headers: auth,
        setupRequest: (req) => ({ ...req, path: `/api/key-value/bench%2Fw${n % 20000}`, body: JSON.stringify({ value: { n: n++, payload: 'y'.repeat(64) } }) }),
      },
      'key-value PUT',
      ctx,
    );
    const apiRss = peakRssMb(api.child.pid!);
    const pmRss = peakRssMb(pm.child.pid!);
    const bareRps = bare.requests.average;
    ctx.report.row({ metric: 'GET requests/s', ours: get.requests.average, peer: 'bare endpoint', peerValue: bareRps, target: { min: 0.6 }, unit: 'req/s' });
    ctx.report.row({ metric: 'PUT requests/s (read-your-writes)', ours: put.requests.average, peer: 'bare endpoint', peerValue: bareRps, target: { min: 0.3 }, unit: 'req/s' });
    ctx.report.row({ metric: 'GET p99 latency', ours: get.latency.p99, peer: 'bare endpoint', peerValue: bare.latency.p99, unit: 'ms' });
    ctx.report.row({ metric: 'PUT p99 latency', ours: put.latency.p99, peer: 'bare endpoint', peerValue: bare.latency.p99, unit: 'ms' });
    ctx.report.note(`${CONNECTIONS} connections, ${DURATION_S} s per run, autocannon in the bench process (same 2 cores as the server and PostgreSQL); LOG_LEVEL=warn for all runs`);
    ctx.report.note(`peak RSS: api ${apiRss.toFixed(0)} MB, process manager ${pmRss.toFixed(0)} MB (target ≤ 250 MB each)`);
  } finally {
    for (const p of [api.child, pm.child]) p.kill('SIGTERM');
    await sleep(500);
    for (const p of [api.child, pm.child]) if (p.exitCode === null) p.kill('SIGKILL');
  }
}

export const keyValueHttp: BenchSection = { name: 'key-value-http', title: 'key-value over HTTP vs a bare endpoint of the same server', run };
