import { ALL_PROJECTIONS } from '@app/read-models';
import pg from 'pg';
import { startTestApi, type TestApi } from '../support/api.js';
import { createTestDatabase } from '../support/database.js';
import { cleanEnv, distScript, spawnNode } from '../support/processes.js';

// `opsledger replay` rebuilds read models from the event log: identical before and after, whoever leads.
const TIMEOUT = 120_000;
const CLI = distScript('apps/cli/src/main.js');
// Operational counters written outside the event log (documented as not rebuilt).
const NOT_REBUILT = new Set(['application_token_usage']);
const TABLES = ALL_PROJECTIONS.flatMap((p) => p.migrations.flatMap((m) => [...m.sql.matchAll(/CREATE TABLE (\w+)/g)].map((x) => x[1]))).filter((t) => !NOT_REBUILT.has(t));

let db: { url: string; drop(): Promise<void> };
let api: TestApi | null = null;

beforeAll(async () => {
  db = await createTestDatabase('replay');
  api = await startTestApi({}, { databaseUrl: db.url });
});
afterAll(async () => {
  await api?.close();
  await db.drop();
});

/** Every row of every rebuilt table, in a stable order. */
async function snapshot(): Promise<Record<string, string[]>> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const out: Record<string, string[]> = {};
    for (const table of TABLES) {
      const { rows } = await client.query<{ row: string }>(`SELECT to_jsonb(t)::text AS row FROM ${table} t ORDER BY 1`);
      out[table] = rows.map((r) => r.row);
    }
    return out;
  } finally {
    await client.end();
  }
}

/** Runs the CLI asynchronously: the api in this process must keep running to rebuild what it leads. */
async function replay(...args: string[]) {
  const cli = spawnNode(CLI, ['replay', ...args], cleanEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'warn' }));
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), 60_000);
  const { code } = await cli.exited;
  clearTimeout(timer);
  return { status: code, stdout: cli.stdout.join('\n'), stderr: cli.stderr.join('\n') };
}

test('replay of one projection and of all leaves the read models identical', async () => {
  const call = api!.call.bind(api);
  for (let i = 0; i < 40; i++) expect((await call('PUT', '/api/key-value', { key: `replay/k${i}`, value: { i, nested: [i, 'x'] }, tags: i % 2 ? ['odd'] : [] })).status).toBe(200);
  for (let i = 0; i < 40; i += 3) expect((await call('PATCH', `/api/key-value/replay%2Fk${i}`, { value: `updated ${i}`, version: 1 })).status).toBe(200);
  for (let i = 0; i < 40; i += 5) expect((await call('DELETE', `/api/key-value/replay%2Fk${i}`)).status).toBe(204);
  expect((await call('PUT', '/api/key-value', { key: 'replay/ttl', value: 1, ttlSeconds: 3600 })).status).toBe(200);
  const ci = await call('POST', '/api/application-tokens', { name: 'ci', role: 'application', scopes: ['kv:write:ci/*'] });
  const bot = await call('POST', '/api/application-tokens', { name: 'bot', role: 'member' });
  expect((await call('POST', `/api/application-tokens/${ci.body.id}/rotate`, { gracePeriodSeconds: 600 })).status).toBe(200);
  expect((await call('DELETE', `/api/application-tokens/${bot.body.id}`)).status).toBe(204);
  const before = await snapshot();
  expect(before.kv_entries).toHaveLength(40 - 8 + 1);
  expect(before.application_token_secrets).toHaveLength(3); // owner, ci new + ci old (grace period)

  // The api leads the projections: the CLI resets, the api rebuilds, the CLI watches the checkpoint.
  const one = await replay('key-value');
  expect({ status: one.status, stderr: one.stderr }).toEqual({ status: 0, stderr: '' });
  expect(one.stdout).toMatch(/key-value: rebuilt 63 events in [\d.]+ s \(\d+ events\/s\)/);
  expect(await snapshot()).toEqual(before);
  expect((await call('GET', '/api/key-value/replay%2Fk3')).body).toMatchObject({ value: 'updated 3', version: 2 });

  // Nobody leads: the CLI takes the leader locks and rebuilds by itself.
  await api!.close();
  api = null;
  const all = await replay('--all');
  expect({ status: all.status, stderr: all.stderr }).toEqual({ status: 0, stderr: '' });
  expect(all.stdout).toMatch(/application-tokens: rebuilt 5 events/);
  expect(all.stdout).toMatch(/key-value: rebuilt 63 events/);
  expect(all.stdout).toMatch(/replay done: 68 events in [\d.]+ s, \d+ events\/s/);
  expect(await snapshot()).toEqual(before);
}, TIMEOUT);

test('an unknown projection exits 2 listing the projections', async () => {
  const result = await replay('nope');
  expect(result.status).toBe(2);
  expect(result.stderr).toContain(`unknown projection "nope"; projections: ${ALL_PROJECTIONS.map((p) => p.name).join(', ')} (or --all)`);
});
