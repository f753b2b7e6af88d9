import { freePort } from '@app/database';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createTestDatabase } from '../support/database.js';
import { cleanEnv, distScript, eventually, spawnNode, type Spawned } from '../support/processes.js';

// kill -9 of the api while documents are created and merge-patched: every acknowledged write survives, and
// the read model is exactly the fold of the event log (nothing applied twice, nothing skipped).
const TIMEOUT = 120_000;
const API = distScript('apps/api/src/main.js');
const TOKEN = 'opl_doc-crash-owner-token-0123456789';
const WORKERS = 6;

interface Ack {
  path: string;
  value: unknown;
  version: number;
}

let db: { url: string; drop(): Promise<void> };
let dataDir: string;
let baseUrl: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDatabase('doc_crash');
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'opsledger-doc-crash-'));
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  env = cleanEnv({ DATABASE_URL: db.url, PORT: String(port), HOST: '127.0.0.1', OPSLEDGER_OWNER_TOKEN: TOKEN, OPSLEDGER_DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
});
afterAll(async () => {
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function startApi(): Promise<Spawned> {
  const api = spawnNode(API, [], env);
  await api.waitForLine((l) => l.includes('"api listening"'), 60_000);
  return api;
}

/** undefined when no answer came back: the write may or may not have happened. */
async function send(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any } | undefined> {
  try {
    const res = await fetch(baseUrl + p, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  } catch {
    return undefined;
  }
}

test('acknowledged document writes survive a kill -9 of the api, and the read model equals the event log', async () => {
  let api = await startApi();
  for (const w of Array.from({ length: WORKERS }, (_, i) => i)) {
    expect((await send('POST', '/api/doc-store/collections', { path: `crash/w${w}` }))?.status).toBe(201);
    expect((await send('POST', `/api/doc-store/docs/crash/w${w}/counter`, { value: { count: 0, history: [] } }))?.status).toBe(201);
  }
  const acks: Ack[] = [];
  const problems: string[] = [];
  let unanswered = 0;
  let stop = false;

  const worker = async (w: number) => {
    const counter = `crash/w${w}/counter`;
    let version: number | undefined = 1;
    for (let n = 0; !stop; n++) {
      const created = await send('POST', `/api/doc-store/docs/crash/w${w}/d${n}`, { value: { w, n } });
      if (created?.status === 201) acks.push({ path: `crash/w${w}/d${n}`, value: created.body.value, version: created.body.version });
      else if (created) problems.push(`create d${n}: ${created.status} ${JSON.stringify(created.body)}`);
      else unanswered++;
      if (version === undefined) {
        const current = await send('GET', `/api/doc-store/docs/${counter}`);
        if (!current) continue;
        version = current.body.version;
      }
      const patched = await send('PATCH', `/api/doc-store/docs/${counter}`, { count: n }, { 'content-type': 'application/merge-patch+json', 'if-match': `"${version}"` });
      if (patched?.status === 200) {
        acks.push({ path: counter, value: patched.body.value, version: patched.body.version });
        version = patched.body.version;
      } else {
        if (patched && patched.status !== 412) problems.push(`patch: ${patched.status} ${JSON.stringify(patched.body)}`);
        if (!patched) unanswered++;
        version = undefined;
      }
      if (!created && !patched) await new Promise((r) => setTimeout(r, 20));
    }
  };
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
  await eventually(async () => acks.length >= 60, 60_000, '60 acknowledged writes');
  expect((await api.stop('SIGKILL')).signal).toBe('SIGKILL');
  const acksAtKill = acks.length;
  api = await startApi();
  await eventually(async () => acks.length >= acksAtKill + 40, 60_000, '40 more acknowledged writes after the restart');
  stop = true;
  await Promise.all(workers);

  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    expect(problems).toEqual([]);
    expect(unanswered).toBeGreaterThan(0);
    const reads = await Promise.all(acks.map(async (ack) => ({ ack, got: await send('GET', `/api/doc-store/docs/${ack.path}?version=${ack.version}`) })));
    for (const { ack, got } of reads) expect([ack.path, ack.version, got?.body.value]).toEqual([ack.path, ack.version, ack.value]);

    // The read model is the fold of the log: each stream's last event, each collection's count.
    await eventually(async () => {
      const { rows } = await client.query(
        `SELECT count(*)::int AS n FROM es_events e, projection_checkpoints c
         WHERE c.name = 'doc-store' AND e.type LIKE 'Doc%' AND (e.transaction_id, e.global_position) > (c.position_commit::text::xid8, c.position_prepare)`,
      );
      return rows[0].n === 0;
    }, 20_000, 'the projection to catch up');
    const { rows: last } = await client.query<{ stream_id: string; type: string; value: unknown; version: string }>(
      `SELECT DISTINCT ON (stream_id) stream_id, type, data->'value' AS value, revision + 1 AS version FROM es_events
       WHERE type LIKE 'Document%' ORDER BY stream_id, revision DESC`,
    );
    const expected = last.filter((e) => e.type !== 'DocumentDeleted').map((e) => ({ path: e.stream_id.slice('doc-'.length), value: e.value, version: e.version }));
    const { rows: actual } = await client.query('SELECT path, value, version FROM doc_documents ORDER BY path');
    expect(actual).toEqual(expected.sort((a, b) => (a.path < b.path ? -1 : 1)));
    const { rows: counts } = await client.query('SELECT c.path, c.document_count::int AS n, (SELECT count(*)::int FROM doc_documents d WHERE d.collection = c.path) AS actual FROM doc_collections c');
    for (const c of counts) expect(c.n).toBe(c.actual);
  } finally {
    await client.end();
    expect(await api.stop('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' });
  }
}, TIMEOUT);
