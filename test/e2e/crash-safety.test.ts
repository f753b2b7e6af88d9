import { freePort } from '@app/database';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase } from '../support/database.js';
import { cleanEnv, distScript, eventually, spawnNode, type Spawned } from '../support/processes.js';

// kill -9 of the api in the middle of concurrent writes: every write that was acknowledged survives as acknowledged.
const TIMEOUT = 120_000;

const API = distScript('apps/api/src/main.js');
const TOKEN = 'opl_crash-safety-owner-token-0123456789';
const WORKERS = 12;

interface Ack {
  key: string;
  value: unknown;
  version: number;
}

let db: { url: string; drop(): Promise<void> };
let dataDir: string;
let baseUrl: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDatabase('crash');
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'opsledger-crash-'));
  // A fixed port, so clients find the restarted api at the same address.
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

/** undefined when no answer came back (connection refused or reset): the write may or may not have happened. */
async function send(method: string, p: string, body?: unknown): Promise<{ status: number; body: any } | undefined> {
  try {
    const res = await fetch(baseUrl + p, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  } catch {
    return undefined;
  }
}

test('every acknowledged write survives a kill -9 of the api with the acknowledged value and version', async () => {
  let api = await startApi();
  const acks: Ack[] = [];
  const problems: string[] = [];
  let unanswered = 0;
  let stop = false;

  // Each worker alternates: a create of a fresh key, and a compare-and-set update of its own counter key.
  const worker = async (w: number) => {
    const counter = `crash/counter-${w}`;
    let version: number | undefined = undefined;
    for (let n = 0; !stop; n++) {
      const key = `crash/w${w}/k${n}`;
      const created = await send('POST', '/api/key-value', { key, value: { w, n } });
      if (created?.status === 201) acks.push({ key, value: created.body.value, version: created.body.version });
      else if (created) problems.push(`${key}: unexpected ${created.status} ${JSON.stringify(created.body)}`);
      else unanswered++;

      if (version === undefined) {
        // Learn the counter's version (after a lost answer, the update may or may not have happened).
        const current = await send('GET', `/api/key-value/${encodeURIComponent(counter)}`);
        if (!current) continue;
        version = current.status === 404 ? 0 : current.body.version;
      }
      const next = { w, count: n };
      const updated = await send('PUT', `/api/key-value/${encodeURIComponent(counter)}`, { value: next, version });
      if (!updated) {
        unanswered++;
        version = undefined;
      } else if (updated.status === 200) {
        acks.push({ key: counter, value: updated.body.value, version: updated.body.version });
        if (updated.body.version !== version! + 1) problems.push(`${counter}: expected version ${version! + 1}, got ${updated.body.version}`);
        version = updated.body.version;
      } else {
        if (updated.status !== 409) problems.push(`${counter}: unexpected ${updated.status} ${JSON.stringify(updated.body)}`);
        version = undefined;
      }
      if (!created && !updated) await new Promise((r) => setTimeout(r, 20));
    }
  };
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));

  await eventually(async () => acks.length >= 200, 60_000, '200 acknowledged writes');
  const beforeKill = acks.length;
  expect((await api.stop('SIGKILL')).signal).toBe('SIGKILL');
  const acksAtKill = acks.length;
  api = await startApi();
  await eventually(async () => acks.length >= acksAtKill + 200, 60_000, '200 more acknowledged writes after the restart');
  stop = true;
  await Promise.all(workers);

  try {
    expect(problems).toEqual([]);
    expect(beforeKill).toBeGreaterThanOrEqual(200);
    expect(unanswered).toBeGreaterThan(0); // the kill did hit requests in flight

    // Current state: every created key has its acknowledged value, every counter at least its last acknowledged version.
    const latest = new Map<string, Ack>();
    for (const ack of acks) if ((latest.get(ack.key)?.version ?? 0) < ack.version) latest.set(ack.key, ack);
    for (const ack of latest.values()) {
      const got = await send('GET', `/api/key-value/${encodeURIComponent(ack.key)}`);
      expect(got?.status).toBe(200);
      if (ack.key.startsWith('crash/counter-')) expect(got!.body.version).toBeGreaterThanOrEqual(ack.version);
      else expect(got!.body).toMatchObject({ value: ack.value, version: ack.version });
    }

    // History: each acknowledged counter update is there with the acknowledged value at the acknowledged version.
    for (let w = 0; w < WORKERS; w++) {
      const key = `crash/counter-${w}`;
      const history = await send('GET', `/api/key-value/${encodeURIComponent(key)}/history?limit=1000`);
      const byVersion = new Map<number, unknown>(history!.body.items.map((i: { version: number; value: unknown }) => [i.version, i.value]));
      for (const ack of acks.filter((a) => a.key === key)) expect(byVersion.get(ack.version)).toEqual(ack.value);
    }
  } finally {
    expect(await api.stop('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' });
  }
}, TIMEOUT);
