// Section "doc-store": 100k documents in 50 collections, seeded as events straight into the event store
// tables in big batches; the api (a real child process, as `npm start` runs it) builds the read model with
// its doc-store projection. Then, in the same run on the same server:
//   queries  five typical queries (pattern + filter + sort + page) over HTTP, each beside the same query
//            written by hand in SQL, run through pg from this process on the same tables; N sequential
//            requests each, the two interleaved so that load on the machine hits both alike; p50 and p99.
//            The answers are checked to be the same documents. EXPLAIN of both shows the indexes used.
//   writes   document creates/s over HTTP with read-your-writes (each returns once the projection applied
//            it) beside the bare endpoint GET /api/health/live of the same server (autocannon), and beside
//            key-value PUTs, which take the same platform path (append, wait for the projection, read back).
import { runMigrations } from '@app/database';
import { compileQuery, parseDocumentQuery } from '@app/doc-store';
import { eventStoreMigrations } from '@app/event-store';
import { projectionMigrations } from '@app/projections';
import { ALL_PROJECTIONS } from '@app/read-models';
import autocannon from 'autocannon';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Agent, request } from 'undici';
import { COLLECTIONS, seedEvents, type TypicalQuery, typicalQueries } from './doc-store.fixtures.js';
import { type BenchContext, type BenchSection, formatNumber, percentile, sleep } from './harness.js';

const DOCUMENTS = Number(process.env.BENCH_DOCS ?? 100_000);
const REQUESTS = Number(process.env.BENCH_QUERY_REQUESTS ?? 300);
const WARMUP = 30;
const CONNECTIONS = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 50);
const DURATION_S = Number(process.env.BENCH_HTTP_SECONDS ?? 8);
const TOKEN = 'opl_bench-owner-token-0123456789abcdef';
const P99_TARGET = 1.5;

function startApi(env: Record<string, string>): { child: ChildProcess; ready: Promise<number> } {
  const script = fileURLToPath(new URL('../apps/api/src/main.js', import.meta.url));
  const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let buffer = '';
  const ready = new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const m = /"msg":"api listening","port":(\d+)/.exec(buffer);
      if (m) resolve(Number(m[1]));
      if (buffer.length > 1 << 20) buffer = buffer.slice(-4096);
    });
    child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.on('exit', (code) => reject(new Error(`api exited with ${code}`)));
  });
  return { child, ready };
}

async function waitForProjection(db: pg.Pool, documents: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query<{ n: number | null }>('SELECT sum(document_count)::int AS n FROM doc_collections');
    if (rows[0].n === documents) return;
    if (Date.now() > until) throw new Error('the doc-store projection did not catch up');
    await sleep(200);
  }
}

/** Index names and scan types a plan uses, e.g. `Index Scan Backward doc_documents_collection_updated`. */
function planSummary(plan: Record<string, unknown>): string {
  const found: string[] = [];
  const visit = (node: Record<string, unknown>) => {
    const type = String(node['Node Type']);
    if (node['Index Name']) found.push(`${type}${node['Scan Direction'] === 'Backward' ? ' Backward' : ''} on ${node['Index Name']}`);
    else if (type === 'Seq Scan') found.push('Seq Scan');
    else if (type === 'Sort' || type === 'Incremental Sort') found.push(type);
    for (const child of (node.Plans as Array<Record<string, unknown>> | undefined) ?? []) visit(child);
  };
  visit(plan);
  return [...new Set(found)].join(', ');
}

async function explain(db: pg.Pool, sql: { text: string; values: unknown[] }): Promise<string> {
  const { rows } = await db.query<{ 'QUERY PLAN': Array<{ Plan: Record<string, unknown>; 'Execution Time': number }> }>({ text: `EXPLAIN (ANALYZE, FORMAT JSON) ${sql.text}`, values: sql.values });
  const [result] = rows[0]['QUERY PLAN'];
  return `${planSummary(result.Plan)} (${result['Execution Time'].toFixed(1)} ms)`;
}

interface Latencies {
  ours: number[];
  sql: number[];
  /** GET /api/health/live on the same connection: the fixed cost of a request to this api. */
  bare: number[];
}

async function measureQueries(base: string, db: pg.Pool, queries: TypicalQuery[], ctx: BenchContext): Promise<Map<string, Latencies>> {
  const dispatcher = new Agent({ connections: 1, pipelining: 1 });
  const http = async (body: Record<string, unknown>) => {
    const res = await request(`${base}/api/doc-store/query`, {
      method: 'POST',
      dispatcher,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.body.json()) as { items: Array<{ path: string }> };
    if (res.statusCode !== 200) throw new Error(`query answered ${res.statusCode}: ${JSON.stringify(json)}`);
    return json;
  };
  const bare = async () => {
    const res = await request(`${base}/api/health/live`, { method: 'GET', dispatcher });
    await res.body.text();
  };
  const sql = async (q: TypicalQuery) => {
    const results = await Promise.all(q.sql.map((s) => db.query(s)));
    return results[0].rows as Array<{ path: string }>;
  };
  const timings = new Map<string, Latencies>();
  for (const q of queries) {
    const ours = (await http(q.body)).items.map((d) => d.path);
    const theirs = (await sql(q)).map((r) => r.path);
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) throw new Error(`${q.name}: the api and the hand-written SQL disagree:\n${ours.join(' ')}\n${theirs.join(' ')}`);
    if (ours.length === 0) throw new Error(`${q.name}: no results; the query measures nothing`);
    for (let i = 0; i < WARMUP; i++) {
      await http(q.body);
      await sql(q);
    }
    const t: Latencies = { ours: [], sql: [], bare: [] };
    for (let i = 0; i < REQUESTS; i++) {
      // Rotate which goes first, so none always runs right after another's work.
      const order = (['ours', 'sql', 'bare'] as const).map((_, k, all) => all[(i + k) % all.length]);
      for (const who of order) {
        const started = performance.now();
        if (who === 'ours') await http(q.body);
        else if (who === 'sql') await sql(q);
        else await bare();
        t[who].push(performance.now() - started);
      }
    }
    for (const list of [t.ours, t.sql, t.bare]) list.sort((a, b) => a - b);
    ctx.report.log(
      `${q.name}: ${ours.length} docs; ours p50 ${percentile(t.ours, 50).toFixed(2)} p99 ${percentile(t.ours, 99).toFixed(2)} ms; SQL p50 ${percentile(t.sql, 50).toFixed(2)} p99 ${percentile(t.sql, 99).toFixed(2)} ms; ` +
        `bare endpoint p50 ${percentile(t.bare, 50).toFixed(2)} p99 ${percentile(t.bare, 99).toFixed(2)} ms`,
    );
    timings.set(q.name, t);
  }
  await dispatcher.close();
  return timings;
}

async function load(url: string, req: autocannon.Request, label: string, ctx: BenchContext): Promise<autocannon.Result> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, requests: [req] });
  const errors = result.non2xx + result.errors + result.timeouts;
  ctx.report.log(`${label}: ${formatNumber(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, errors ${errors}`);
  if (errors > 0) throw new Error(`${label}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  return result;
}

async function run(ctx: BenchContext): Promise<void> {
  const databaseUrl = await ctx.createDatabase('doc_store');
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  let api: ReturnType<typeof startApi> | null = null;
  let stopping = false;
  try {
    await runMigrations(db, [...eventStoreMigrations, ...projectionMigrations, ...ALL_PROJECTIONS.flatMap((p) => p.migrations)]);
    let started = Date.now();
    await seedEvents(db, DOCUMENTS);
    const seedS = (Date.now() - started) / 1000;
    ctx.report.log(`seeded ${DOCUMENTS} document events in ${seedS.toFixed(1)} s`);

    started = Date.now();
    api = startApi({ DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', OPSLEDGER_OWNER_TOKEN: TOKEN, LOG_LEVEL: 'warn', OPSLEDGER_DATA_DIR: `/tmp/opsledger-bench-${process.pid}` });
    const port = await api.ready;
    const child = api.child;
    child.once('exit', (code, signal) => {
      if (!stopping) ctx.report.log(`the api exited unexpectedly (code ${code}, signal ${signal})`);
    });
    await waitForProjection(db, DOCUMENTS, 600_000);
    const projectS = (Date.now() - started) / 1000;
    const { rows: counted } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM doc_documents');
    if (counted[0].n !== DOCUMENTS) throw new Error(`the read model has ${counted[0].n} documents, expected ${DOCUMENTS}`);
    ctx.report.log(`the api's projection built the read model (${DOCUMENTS} documents) in ${projectS.toFixed(1)} s`);
    await db.query('VACUUM ANALYZE doc_documents');
    const base = `http://127.0.0.1:${port}`;

    const { rows: q5 } = await db.query<{ number: number; path: string; key: string }>(
      `SELECT (value->'build'->>'number')::int AS number, path, jsonb_build_array(value->'build'->'number', path)::text AS key
       FROM doc_documents WHERE collection = 'org/team-4/app-9' ORDER BY value->'build'->'number', path OFFSET 199 LIMIT 1`,
    );
    const q5Body = { paths: ['org/team-4/app-9/*'], sort: [{ field: 'build.number' }], limit: 100 };
    const q5Cursor = Buffer.from(JSON.stringify({ s: parseDocumentQuery(q5Body).shape, k: q5[0].key })).toString('base64url');
    const queries = typicalQueries(DOCUMENTS, q5[0], q5Cursor);

    const timings = await measureQueries(base, db, queries, ctx);
    for (const q of queries) {
      const t = timings.get(q.name)!;
      ctx.report.row({ metric: `${q.name}: p50`, ours: percentile(t.ours, 50), peer: 'hand-written SQL', peerValue: percentile(t.sql, 50), unit: 'ms' });
      ctx.report.row({ metric: `${q.name}: p99`, ours: percentile(t.ours, 99), peer: 'hand-written SQL', peerValue: percentile(t.sql, 99), target: { max: P99_TARGET }, unit: 'ms' });
    }
    const bareAll = queries.flatMap((q) => timings.get(q.name)!.bare).sort((a, b) => a - b);
    ctx.report.note(
      `a request to the bare endpoint on the same connection, interleaved with the queries (the fixed cost of HTTP + the framework, which the SQL twins do not pay): ` +
        `p50 ${percentile(bareAll, 50).toFixed(2)} ms, p99 ${percentile(bareAll, 99).toFixed(2)} ms`,
    );
    for (const q of queries) {
      const compiled = compileQuery(parseDocumentQuery(q.body), null, q.name.startsWith('Q5') ? q5[0].key : null);
      ctx.report.note(`${q.name.slice(0, 2)} plan, ours: ${await explain(db, compiled.page)}${compiled.count ? `; count: ${await explain(db, compiled.count)}` : ''}`);
      ctx.report.note(`${q.name.slice(0, 2)} plan, SQL:  ${(await Promise.all(q.sql.map((s) => explain(db, s)))).join('; ')}`);
    }

    await fetch(`${base}/api/doc-store/collections`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ path: 'bench/writes' }) });
    await load(base, { method: 'GET', path: '/api/health/live' }, 'warm-up', ctx);
    const bare = await load(base, { method: 'GET', path: '/api/health/live' }, 'bare endpoint', ctx);
    let n = 0;
    const value = (i: number) => JSON.stringify({ value: { status: 'done', build: { number: i, branch: 'main' }, tags: ['bench'], notes: 'x'.repeat(300) } });
    const writes = await load(
      base,
      { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, setupRequest: (req) => ({ ...req, path: `/api/doc-store/docs/bench/writes/w${n}`, body: value(n++) }) },
      'document creates',
      ctx,
    );
    let k = 0;
    const kv = await load(
      base,
      { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, setupRequest: (req) => ({ ...req, path: `/api/key-value/bench%2Fw${k}`, body: value(k++) }) },
      'key-value PUTs',
      ctx,
    );
    ctx.report.row({ metric: 'document creates/s (read-your-writes)', ours: writes.requests.average, peer: 'bare endpoint', peerValue: bare.requests.average, unit: 'req/s' });
    ctx.report.row({ metric: 'document creates/s (read-your-writes)', ours: writes.requests.average, peer: 'key-value PUT (read-your-writes)', peerValue: kv.requests.average, unit: 'req/s' });
    ctx.report.row({ metric: 'document create p99', ours: writes.latency.p99, peer: 'bare endpoint', peerValue: bare.latency.p99, unit: 'ms' });

    ctx.report.note(
      `${DOCUMENTS} documents in ${COLLECTIONS.length} collections (~450 B each): events seeded in ${seedS.toFixed(1)} s, read model built by the api's projection in ${projectS.toFixed(1)} s ` +
        `(${formatNumber(DOCUMENTS / projectS)} events/s); queries: ${REQUESTS} sequential requests each (after ${WARMUP} warm-up), ours over HTTP (undici, one keep-alive connection) ` +
        `interleaved with the hand-written SQL through pg (same process, same tables); writes: autocannon, ${CONNECTIONS} connections, ${DURATION_S} s`,
    );
  } finally {
    stopping = true;
    if (api) {
      api.child.kill('SIGTERM');
      await sleep(500);
      if (api.child.exitCode === null) api.child.kill('SIGKILL');
    }
    await db.end();
  }
}

export const docStore: BenchSection = { name: 'doc-store', title: 'doc-store: queries over HTTP vs hand-written SQL, writes vs a bare endpoint', run };
