import type pg from 'pg';
import { startTestApi, type TestApi } from '../support/api.js';
import { createCollection, createDocument, docUrl, MERGE_PATCH, type Res, snapshot } from '../support/doc-store.js';
import { connectDatabase, expectProblem } from '../support/problem.js';

let api: TestApi;
let db: pg.Client;
const tokens: Record<string, string> = {};

const DOCS = ['rel/a', 'rel/2026/build-1', 'rel/2026/build-2', 'rel/2026/notes', 'rel/2026/q4/build-3', 'rel/2026/q4/build-4', 'ops/x', 'ops/deep/y'];

async function token(name: string, role: string, scopes: string[]): Promise<void> {
  const res = await api.call('POST', '/api/application-tokens', { name, role, scopes });
  tokens[name] = res.body.token;
}

beforeAll(async () => {
  api = await startTestApi();
  db = await connectDatabase(api.databaseUrl);
  for (const c of ['rel', 'rel/2026', 'rel/2026/q4', 'ops', 'ops/deep']) await createCollection(api, c);
  for (const [i, path] of DOCS.entries()) await createDocument(api, path, { i, kind: path.includes('build') ? 'build' : 'other' });
  await token('relReader', 'application', ['docs:read:rel/**']);
  await token('q4Writer', 'application', ['docs:read:rel/2026/q4/*', 'docs:write:rel/2026/q4/*']);
  await token('builds', 'application', ['docs:read:rel/2026/build-*', 'docs:read:rel/**/build-4']);
  await token('twoTrees', 'application', ['docs:read:rel/*', 'docs:read:ops/**']);
  await token('noDocs', 'application', ['kv:read', 'kv:write']);
  await token('member', 'member', []);
});
afterAll(async () => {
  await db?.end();
  await api?.close();
});

async function forbidden(request: () => Promise<Res>): Promise<void> {
  const before = await snapshot(db);
  expectProblem(await request(), 403, 'INSUFFICIENT_SCOPE');
  expect(await snapshot(db)).toEqual(before);
}

/** Every page of a query, checking that each page but the last is full. */
async function queryAll(tokenName: string, body: Record<string, unknown>, limit = 2): Promise<string[]> {
  const paths: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const res = await api.call('POST', '/api/doc-store/query', { ...body, limit, cursor, count: true }, { token: tokens[tokenName] });
    expect(res.status).toBe(200);
    paths.push(...res.body.items.map((d: { path: string }) => d.path));
    if (!res.body.nextCursor) {
      expect(paths).toHaveLength(res.body.total);
      return paths;
    }
    expect(res.body.items).toHaveLength(limit);
    cursor = res.body.nextCursor;
  }
}

describe('queries see only what the scopes allow, with whole pages', () => {
  test.each<[string, string[], string[]]>([
    ['relReader', ['**'], ['rel/2026/build-1', 'rel/2026/build-2', 'rel/2026/notes', 'rel/2026/q4/build-3', 'rel/2026/q4/build-4', 'rel/a']],
    ['q4Writer', ['**'], ['rel/2026/q4/build-3', 'rel/2026/q4/build-4']],
    ['builds', ['**'], ['rel/2026/build-1', 'rel/2026/build-2', 'rel/2026/q4/build-4']],
    ['builds', ['rel/2026/*'], ['rel/2026/build-1', 'rel/2026/build-2']],
    ['twoTrees', ['**'], ['ops/deep/y', 'ops/x', 'rel/a']],
    ['twoTrees', ['rel/**', 'ops/*'], ['ops/x', 'rel/a']],
    ['member', ['**'], [...DOCS].sort()],
  ])('%s querying %j', async (name, patterns, expected) => {
    expect(await queryAll(name, { paths: patterns })).toEqual(expected);
  });

  test('with a filter and a sort as well', async () => {
    const paths = await queryAll('builds', { paths: ['**'], filter: { kind: 'build' }, sort: [{ field: 'i', direction: 'desc' }] }, 1);
    expect(paths).toEqual(['rel/2026/q4/build-4', 'rel/2026/build-2', 'rel/2026/build-1']);
  });

  test('the GET form too', async () => {
    const res = await api.call('GET', '/api/doc-store/query?paths=**&count=true', undefined, { token: tokens.q4Writer });
    expect(res.body.total).toBe(2);
  });
});

describe('document reads and writes check the path', () => {
  test('reads, history and time travel', async () => {
    for (const suffix of ['', '?version=1', `?at=${encodeURIComponent(new Date().toISOString())}`]) {
      expect((await api.call('GET', docUrl(`rel/2026/notes${suffix}`), undefined, { token: tokens.relReader })).status).toBe(200);
      await forbidden(() => api.call('GET', docUrl(`ops/x${suffix}`), undefined, { token: tokens.relReader }));
      await forbidden(() => api.call('GET', docUrl(`rel/2026/notes${suffix}`), undefined, { token: tokens.builds }));
    }
    expect((await api.call('GET', '/api/doc-store/history/rel/2026/build-1', undefined, { token: tokens.builds })).status).toBe(200);
    await forbidden(() => api.call('GET', '/api/doc-store/history/rel/2026/notes', undefined, { token: tokens.builds }));
  });

  test('writes inside the write scope succeed; outside they are 403 and change nothing', async () => {
    const t = { token: tokens.q4Writer };
    expect((await api.call('POST', docUrl('rel/2026/q4/build-5'), { value: 1 }, t)).status).toBe(201);
    expect((await api.call('PATCH', docUrl('rel/2026/q4/build-5'), { a: 1 }, { ...t, headers: { ...MERGE_PATCH, 'if-match': '"1"' } })).status).toBe(200);
    expect((await api.call('DELETE', docUrl('rel/2026/q4/build-5'), { version: 2 }, t)).status).toBe(204);
    await forbidden(() => api.call('POST', docUrl('rel/2026/build-9'), { value: 1 }, t));
    await forbidden(() => api.call('POST', docUrl('rel/2026/build-1'), { value: 1, version: 1 }, t));
    await forbidden(() => api.call('PATCH', docUrl('rel/2026/build-1'), { a: 1 }, { ...t, headers: { ...MERGE_PATCH, 'if-match': '"1"' } }));
    await forbidden(() => api.call('DELETE', docUrl('rel/2026/build-1'), { version: 1 }, t));
    await forbidden(() => api.call('POST', docUrl('rel/2026/q4/build-3'), { value: 1, version: 1 }, { token: tokens.relReader }));
    await forbidden(() => api.call('POST', docUrl('rel/2026/q4/x'), { value: 1 }, { token: tokens.member }));
  });

  test('a token without docs scopes gets 403 on every endpoint', async () => {
    const t = { token: tokens.noDocs };
    for (const [method, url, body, headers] of [
      ['POST', '/api/doc-store/collections', { path: 'nope' }],
      ['GET', '/api/doc-store/collections'],
      ['GET', '/api/doc-store/collections/rel'],
      ['DELETE', '/api/doc-store/collections/rel'],
      ['POST', docUrl('rel/new'), { value: 1 }],
      ['GET', docUrl('rel/a')],
      ['PATCH', docUrl('rel/a'), { b: 1 }, { ...MERGE_PATCH, 'if-match': '"1"' }],
      ['DELETE', docUrl('rel/a'), { version: 1 }],
      ['GET', '/api/doc-store/history/rel/a'],
      ['POST', '/api/doc-store/query', {}],
      ['GET', '/api/doc-store/query'],
    ] as Array<[string, string, unknown?, Record<string, string>?]>) {
      await forbidden(() => api.call(method, url, body, { ...t, headers }));
    }
  });
});

describe('collections need a scope that covers all their documents', () => {
  test('listing shows only fully covered collections', async () => {
    const list = async (name: string) => (await api.call('GET', '/api/doc-store/collections', undefined, { token: tokens[name] })).body.items.map((c: { path: string }) => c.path);
    expect(await list('relReader')).toEqual(['rel', 'rel/2026', 'rel/2026/q4']);
    expect(await list('q4Writer')).toEqual(['rel/2026/q4']);
    expect(await list('builds')).toEqual([]);
    expect(await list('twoTrees')).toEqual(['ops', 'ops/deep', 'rel']);
  });

  test('get, create and delete', async () => {
    expect((await api.call('GET', '/api/doc-store/collections/rel/2026', undefined, { token: tokens.relReader })).body.documents.items).toHaveLength(3);
    await forbidden(() => api.call('GET', '/api/doc-store/collections/rel/2026', undefined, { token: tokens.builds }));
    await forbidden(() => api.call('POST', '/api/doc-store/collections', { path: 'rel/2026/q4/sub' }, { token: tokens.q4Writer }));
    await forbidden(() => api.call('DELETE', '/api/doc-store/collections/rel/2026', undefined, { token: tokens.q4Writer }));
    await forbidden(() => api.call('DELETE', '/api/doc-store/collections/rel/2026/q4', undefined, { token: tokens.relReader }));
    expect((await api.call('DELETE', '/api/doc-store/collections/rel/2026/q4', undefined, { token: tokens.q4Writer })).status).toBe(204);
    expect((await api.call('POST', '/api/doc-store/collections', { path: 'rel/2026/q4' }, { token: tokens.q4Writer })).status).toBe(201);
  });
});
