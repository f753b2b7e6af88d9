import { EXTERNAL_EVENTS } from '@app/read-models';
import { toExternalEvent } from '@app/core';
import { EVENT_STORE, type EventStore } from '@app/event-store';
import { ProjectionRunner } from '@app/projections';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { startTestApi, type TestApi } from '../support/api.js';
import { createCollection, createDocument, docUrl, MERGE_PATCH, type Res, snapshot } from '../support/doc-store.js';
import { connectDatabase, eventually, expectProblem, sleep } from '../support/problem.js';

const MAX_VALUE_BYTES = 2048;

let api: TestApi;
let db: pg.Client;

beforeAll(async () => {
  api = await startTestApi({ OPSLEDGER_DOCS_MAX_VALUE_BYTES: String(MAX_VALUE_BYTES), OPSLEDGER_BODY_LIMIT_BYTES: '16384' });
  db = await connectDatabase(api.databaseUrl);
});
afterAll(async () => {
  await db?.end();
  await api?.close();
});

async function expectUnchanged(request: () => Promise<Res>, status: number, code: string): Promise<Res> {
  const before = await snapshot(db);
  const res = await request();
  expectProblem(res, status, code);
  expect(await snapshot(db)).toEqual(before);
  return res;
}

describe('lifecycle', () => {
  beforeAll(async () => {
    for (const c of ['life', 'life/2026', 'life/2026/q4', 'life/2027', 'lifeless']) await createCollection(api, c);
  });

  test('collections: create, 409 when it exists, list by prefix with pages, get one', async () => {
    await expectUnchanged(() => api.call('POST', '/api/doc-store/collections', { path: 'life/2026' }), 409, 'COLLECTION_EXISTS');
    const all = await api.call('GET', '/api/doc-store/collections?prefix=life');
    expect(all.body.items.map((c: { path: string }) => c.path)).toEqual(['life', 'life/2026', 'life/2026/q4', 'life/2027', 'lifeless']);
    const first = await api.call('GET', '/api/doc-store/collections?prefix=life/&limit=2');
    expect(first.body.items.map((c: { path: string }) => c.path)).toEqual(['life/2026', 'life/2026/q4']);
    const second = await api.call('GET', `/api/doc-store/collections?prefix=life/&limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body).toEqual({ items: [expect.objectContaining({ path: 'life/2027', documentCount: 0 })], nextCursor: null });
    const one = await api.call('GET', '/api/doc-store/collections/life/2026/q4');
    expect(one.body).toEqual({ path: 'life/2026/q4', documentCount: 0, createdAt: expect.any(String), createdBy: { kind: 'token', id: 'owner' }, documents: { items: [], nextCursor: null } });
    expectProblem(await api.call('GET', '/api/doc-store/collections/life/2028'), 404, 'COLLECTION_NOT_FOUND');
  });

  test('documents: create, read, replace, patch, delete, create again — versions keep counting', async () => {
    const path = 'life/2026/q4/build-17';
    const created = await createDocument(api, path, { status: 'queued', build: { number: 17 } });
    expect(created.body).toEqual({
      path,
      value: { status: 'queued', build: { number: 17 } },
      version: 1,
      createdAt: expect.any(String),
      updatedAt: created.body.createdAt,
      updatedBy: { kind: 'token', id: 'owner' },
    });
    expect(created.headers.get('etag')).toBe('"1"');
    await expectUnchanged(() => api.call('POST', docUrl(path), { value: { other: true } }), 409, 'DOCUMENT_EXISTS');

    const read = await api.call('GET', docUrl(path));
    expect(read.body).toEqual(created.body);
    expect(read.headers.get('etag')).toBe('"1"');

    const replaced = await api.call('POST', docUrl(path), { value: { status: 'running', build: { number: 17 } }, version: 1 });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ version: 2, value: { status: 'running' }, createdAt: created.body.createdAt });
    expect(replaced.headers.get('etag')).toBe('"2"');

    const patched = await api.call('PATCH', docUrl(path), { status: 'done', build: { durationMs: 900 } }, { headers: { ...MERGE_PATCH, 'if-match': '"2"' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ version: 3, value: { status: 'done', build: { number: 17, durationMs: 900 } } });

    await expectUnchanged(() => api.call('DELETE', docUrl(path)), 428, 'PRECONDITION_REQUIRED');
    expect((await api.call('DELETE', docUrl(path), undefined, { headers: { 'if-match': '"3"' } })).status).toBe(204);
    expectProblem(await api.call('GET', docUrl(path)), 404, 'DOCUMENT_NOT_FOUND');
    await expectUnchanged(() => api.call('DELETE', docUrl(path), { version: 4 }), 404, 'DOCUMENT_NOT_FOUND');
    await expectUnchanged(() => api.call('PATCH', docUrl(path), { a: 1 }, { headers: { ...MERGE_PATCH, 'if-match': '"4"' } }), 404, 'DOCUMENT_NOT_FOUND');

    const again = await createDocument(api, path, { status: 'queued' });
    expect(again.body.version).toBe(5);
    expect(again.body.createdAt > created.body.createdAt).toBe(true);
    const history = await api.call('GET', `/api/doc-store/history/${path}`);
    expect(history.body.items.map((i: { version: number; change: string }) => [i.version, i.change])).toEqual([
      [5, 'created'],
      [4, 'deleted'],
      [3, 'merge-patched'],
      [2, 'replaced'],
      [1, 'created'],
    ]);
  });

  test('a document needs its collection; replacing one that never existed is 404', async () => {
    await expectUnchanged(() => api.call('POST', docUrl('life/2029/x'), { value: 1 }), 404, 'COLLECTION_NOT_FOUND');
    await expectUnchanged(() => api.call('POST', docUrl('life/never'), { value: 1, version: 1 }), 404, 'DOCUMENT_NOT_FOUND');
  });

  test('a collection with its documents, page by page', async () => {
    for (let i = 0; i < 5; i++) await createDocument(api, `life/2027/d${i}`, { i });
    await createDocument(api, 'life/2027x', { elsewhere: true });
    const seen: string[] = [];
    let cursor = '';
    for (;;) {
      const page = await api.call('GET', `/api/doc-store/collections/life/2027?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body.documentCount).toBe(5);
      seen.push(...page.body.documents.items.map((d: { path: string }) => d.path));
      if (!page.body.documents.nextCursor) break;
      cursor = page.body.documents.nextCursor;
    }
    expect(seen).toEqual(['life/2027/d0', 'life/2027/d1', 'life/2027/d2', 'life/2027/d3', 'life/2027/d4']);
  });

  test('deleting a collection removes its documents from reads and queries; their history stays; a new collection of that name starts empty', async () => {
    await createCollection(api, 'gone');
    await createCollection(api, 'gone/child');
    for (let i = 0; i < 3; i++) await createDocument(api, `gone/d${i}`, { i });
    await createDocument(api, 'gone/child/c', { kept: true });
    expect((await api.call('DELETE', '/api/doc-store/collections/gone')).status).toBe(204);
    await expectUnchanged(() => api.call('DELETE', '/api/doc-store/collections/gone'), 404, 'COLLECTION_NOT_FOUND');

    expectProblem(await api.call('GET', docUrl('gone/d0')), 404, 'DOCUMENT_NOT_FOUND');
    expectProblem(await api.call('GET', '/api/doc-store/collections/gone'), 404, 'COLLECTION_NOT_FOUND');
    const query = await api.call('POST', '/api/doc-store/query', { paths: ['gone/**'] });
    expect(query.body.items.map((d: { path: string }) => d.path)).toEqual(['gone/child/c']);
    const history = await api.call('GET', '/api/doc-store/history/gone/d0');
    expect(history.body.items).toEqual([expect.objectContaining({ version: 1, change: 'created', value: { i: 0 } })]);
    expect((await api.call('GET', `${docUrl('gone/d0')}?version=1`)).body.value).toEqual({ i: 0 });

    await createCollection(api, 'gone');
    expect((await api.call('GET', '/api/doc-store/collections/gone')).body).toMatchObject({ documentCount: 0, documents: { items: [] } });
    expectProblem(await api.call('GET', docUrl('gone/d1')), 404, 'DOCUMENT_NOT_FOUND');
    await expectUnchanged(() => api.call('POST', docUrl('gone/d1'), { value: 1, version: 1 }), 404, 'DOCUMENT_NOT_FOUND');
    const recreated = await createDocument(api, 'gone/d1', { i: 'again' });
    expect(recreated.body.version).toBe(2);
  });
});

describe('optimistic concurrency', () => {
  beforeAll(async () => {
    await createCollection(api, 'occ');
  });

  test('a stale version is 409 (body) or 412 (If-Match) with the current version, and changes nothing', async () => {
    await createDocument(api, 'occ/a', { n: 1 });
    await api.call('POST', docUrl('occ/a'), { value: { n: 2 }, version: 1 });
    const body = await expectUnchanged(() => api.call('POST', docUrl('occ/a'), { value: { n: 3 }, version: 1 }), 409, 'VERSION_CONFLICT');
    expect(body.body.currentVersion).toBe(2);
    const header = await expectUnchanged(() => api.call('POST', docUrl('occ/a'), { value: { n: 3 } }, { headers: { 'if-match': '"1"' } }), 412, 'PRECONDITION_FAILED');
    expect(header.body.currentVersion).toBe(2);
    const patch = await expectUnchanged(() => api.call('PATCH', docUrl('occ/a'), { n: 3 }, { headers: { ...MERGE_PATCH, 'if-match': 'W/"1"' } }), 412, 'PRECONDITION_FAILED');
    expect(patch.body.currentVersion).toBe(2);
    const del = await expectUnchanged(() => api.call('DELETE', docUrl('occ/a'), { version: 1 }), 409, 'VERSION_CONFLICT');
    expect(del.body.currentVersion).toBe(2);
    await expectUnchanged(() => api.call('POST', docUrl('occ/a'), { value: 1, version: 2 }, { headers: { 'if-match': '"1"' } }), 400, 'VERSION_MISMATCH');
    expect((await api.call('POST', docUrl('occ/a'), { value: { n: 3 } }, { headers: { 'if-match': '"2"' } })).body.version).toBe(3);
  });

  test('20 concurrent updaters that retry on 409 produce a gapless version sequence and lose no update', async () => {
    await createDocument(api, 'occ/counter', { writers: [] });
    const attempts: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, writer) => {
        for (let attempt = 1; ; attempt++) {
          const current = await api.call('GET', docUrl('occ/counter'));
          const value = { writers: [...current.body.value.writers, writer] };
          const res = await api.call('POST', docUrl('occ/counter'), { value, version: current.body.version });
          if (res.status === 200) return attempts.push(attempt);
          expect(res.status).toBe(409);
          expect(res.body.currentVersion).toBeGreaterThan(current.body.version);
          await sleep(Math.random() * 10 * Math.min(attempt, 10));
        }
      }),
    );
    const final = await api.call('GET', docUrl('occ/counter'));
    expect(final.body.version).toBe(21);
    expect([...final.body.value.writers].sort((a: number, b: number) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const history = await api.call('GET', '/api/doc-store/history/occ/counter');
    expect(history.body.items.map((i: { version: number }) => i.version)).toEqual(Array.from({ length: 21 }, (_, i) => 21 - i));
    // Each version extends the one before it by exactly one writer: nothing was overwritten.
    const values = [...history.body.items].reverse().map((i: { value: { writers: number[] } }) => i.value.writers);
    values.slice(1).forEach((writers, i) => expect(writers).toEqual([...values[i], writers[writers.length - 1]]));
    expect(Math.max(...attempts)).toBeGreaterThan(1);
  });

  test('concurrent creates of one path: exactly one wins', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => api.call('POST', docUrl('occ/race'), { value: { i } })));
    expect(results.map((r) => r.status).sort()).toEqual([201, ...Array(9).fill(409)]);
    expect((await api.call('GET', '/api/doc-store/history/occ/race')).body.items).toHaveLength(1);
  });
});

describe('JSON merge patch', () => {
  beforeAll(async () => {
    await createCollection(api, 'mp');
    await createDocument(api, 'mp/doc', { title: 'a', build: { number: 1, flags: ['x'] }, drop: true });
  });

  test('merges objects, null removes, arrays and scalars replace', async () => {
    const res = await api.call('PATCH', docUrl('mp/doc'), { drop: null, build: { flags: ['y'], branch: 'main' }, extra: { deep: { er: 1 } } }, { headers: { ...MERGE_PATCH, 'if-match': '"1"' } });
    expect(res.body.value).toEqual({ title: 'a', build: { number: 1, flags: ['y'], branch: 'main' }, extra: { deep: { er: 1 } } });
    const whole = await api.call('PATCH', docUrl('mp/doc'), '["replaced"]', { headers: { ...MERGE_PATCH, 'if-match': '"2"' } });
    expect(whole.body).toMatchObject({ version: 3, value: ['replaced'] });
    expect((await api.call('GET', '/api/doc-store/history/mp/doc?limit=1')).body.items[0].change).toBe('merge-patched');
  });

  test('bad patches change nothing', async () => {
    const headers = { ...MERGE_PATCH, 'if-match': '"3"' };
    await expectUnchanged(() => api.call('PATCH', docUrl('mp/doc'), { a: 1 }, { headers: { 'if-match': '"3"' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    await expectUnchanged(() => api.call('PATCH', docUrl('mp/doc'), '{"a": ', { headers }), 400, 'MALFORMED_JSON');
    await expectUnchanged(() => api.call('PATCH', docUrl('mp/doc'), '{"__proto__": {"x": 1}}', { headers }), 400, 'MALFORMED_JSON');
    await expectUnchanged(() => api.call('PATCH', docUrl('mp/doc'), { a: 1 }, { headers: MERGE_PATCH }), 428, 'PRECONDITION_REQUIRED');
    await expectUnchanged(() => api.call('PATCH', docUrl('mp/doc'), { a: 1 }, { headers: { ...MERGE_PATCH, 'if-match': 'abc' } }), 400, 'INVALID_IF_MATCH');
    const big = await expectUnchanged(() => api.call('PATCH', docUrl('mp/doc'), { big: 'x'.repeat(MAX_VALUE_BYTES) }, { headers }), 413, 'VALUE_TOO_LARGE');
    expect(big.body.limit).toBe(MAX_VALUE_BYTES);
  });
});

describe('history and time travel', () => {
  const path = 'tt/doc';
  const versions: Res['body'][] = [];

  beforeAll(async () => {
    await createCollection(api, 'tt');
    versions.push((await createDocument(api, path, { step: 1 })).body);
    for (let step = 2; step <= 4; step++) {
      await sleep(15);
      versions.push((await api.call('POST', docUrl(path), { value: { step }, version: step - 1 })).body);
    }
  });

  test('?version=N reads any past version', async () => {
    for (const v of versions) expect((await api.call('GET', `${docUrl(path)}?version=${v.version}`)).body).toEqual(v);
    expectProblem(await api.call('GET', `${docUrl(path)}?version=5`), 404, 'VERSION_NOT_FOUND');
    expectProblem(await api.call('GET', `${docUrl(path)}?version=0`), 400, 'VALIDATION_FAILED');
    expectProblem(await api.call('GET', `${docUrl(path)}?version=two`), 400, 'VALIDATION_FAILED');
  });

  test('?at=<time> folds the stream up to that time', async () => {
    const at = (iso: string) => api.call('GET', `${docUrl(path)}?at=${encodeURIComponent(iso)}`);
    const before = (iso: string) => new Date(Date.parse(iso) - 1).toISOString();
    expectProblem(await at(before(versions[0].updatedAt)), 404, 'DOCUMENT_NOT_FOUND');
    for (let i = 0; i < versions.length; i++) {
      expect((await at(versions[i].updatedAt)).body).toEqual(versions[i]);
      if (i > 0) expect((await at(before(versions[i].updatedAt))).body).toEqual(versions[i - 1]);
    }
    expect((await at('2999-01-01T00:00:00Z')).body).toEqual(versions[3]);
    expectProblem(await at('yesterday'), 400, 'VALIDATION_FAILED');
    expectProblem(await api.call('GET', `${docUrl(path)}?at=2026-01-01T00:00:00Z&version=1`), 400, 'VALIDATION_FAILED');
  });

  test('time travel sees deletions of the document and of its collection', async () => {
    await createCollection(api, 'tt2');
    const v1 = (await createDocument(api, 'tt2/doc', { a: 1 })).body;
    await sleep(15);
    expect((await api.call('DELETE', docUrl('tt2/doc'), { version: 1 })).status).toBe(204);
    const deletedAt = (await api.call('GET', '/api/doc-store/history/tt2/doc')).body.items[0].at;
    expectProblem(await api.call('GET', `${docUrl('tt2/doc')}?at=${deletedAt}`), 404, 'DOCUMENT_NOT_FOUND');
    expect((await api.call('GET', `${docUrl('tt2/doc')}?at=${v1.updatedAt}`)).body).toEqual(v1);
    expectProblem(await api.call('GET', `${docUrl('tt2/doc')}?version=2`), 404, 'VERSION_IS_DELETION');

    await createDocument(api, 'tt2/kept', { b: 1 });
    await sleep(15);
    const beforeDelete = new Date().toISOString();
    await sleep(15);
    expect((await api.call('DELETE', '/api/doc-store/collections/tt2')).status).toBe(204);
    expect((await api.call('GET', `${docUrl('tt2/kept')}?at=${beforeDelete}`)).body.value).toEqual({ b: 1 });
    expectProblem(await api.call('GET', `${docUrl('tt2/kept')}?at=${new Date().toISOString()}`), 404, 'DOCUMENT_NOT_FOUND');
  });

  test('history pages newest first', async () => {
    const first = await api.call('GET', `/api/doc-store/history/${path}?limit=3`);
    expect(first.body.items.map((i: { version: number }) => i.version)).toEqual([4, 3, 2]);
    expect(first.body.items[0]).toEqual({ version: 4, change: 'replaced', value: { step: 4 }, at: versions[3].updatedAt, actor: { kind: 'token', id: 'owner' }, correlationId: expect.any(String) });
    const second = await api.call('GET', `/api/doc-store/history/${path}?limit=3&before=${first.body.nextBefore}`);
    expect(second.body).toMatchObject({ items: [expect.objectContaining({ version: 1, change: 'created' })], nextBefore: null });
    expectProblem(await api.call('GET', '/api/doc-store/history/tt/none'), 404, 'DOCUMENT_NOT_FOUND');
  });
});

describe('bad requests are 4xx problem+json and change nothing', () => {
  beforeAll(async () => {
    await createCollection(api, 'bad');
    await createDocument(api, 'bad/doc', { ok: true });
  });

  test.each([
    ['one segment (no collection)', 'lonely'],
    ['an empty segment', 'bad//doc'],
    ['a trailing slash', 'bad/doc/'],
    ['a space', 'bad/has%20space'],
    ['a dot segment', 'bad/..'],
    ['a non-ASCII letter', 'bad/%C3%BC'],
    ['a wildcard', 'bad/*'],
    ['more than 512 characters', `bad/${'d'.repeat(510)}`],
  ])('a document path with %s → 400 INVALID_PATH on every endpoint', async (_label, path) => {
    for (const [method, url, body, headers] of [
      ['POST', docUrl(path), { value: 1 }],
      ['GET', docUrl(path)],
      ['PATCH', docUrl(path), { a: 1 }, { ...MERGE_PATCH, 'if-match': '"1"' }],
      ['DELETE', docUrl(path), { version: 1 }],
      ['GET', `/api/doc-store/history/${path}`],
    ] as Array<[string, string, unknown?, Record<string, string>?]>) {
      await expectUnchanged(() => api.call(method, url, body, { headers }), 400, 'INVALID_PATH');
    }
  });

  test('bad collection paths → 400 INVALID_PATH', async () => {
    for (const path of ['', '/x', 'x/', 'a//b', '-x', 'a b']) {
      await expectUnchanged(() => api.call('POST', '/api/doc-store/collections', { path }), 400, path === '' ? 'VALIDATION_FAILED' : 'INVALID_PATH');
    }
    await expectUnchanged(() => api.call('GET', '/api/doc-store/collections/a%20b'), 400, 'INVALID_PATH');
    await expectUnchanged(() => api.call('DELETE', '/api/doc-store/collections/a//b'), 400, 'INVALID_PATH');
  });

  test('bad bodies', async () => {
    const url = docUrl('bad/doc');
    await expectUnchanged(() => api.call('POST', url, {}), 400, 'VALIDATION_FAILED');
    await expectUnchanged(() => api.call('POST', url, { value: 1, version: 0 }), 400, 'VALIDATION_FAILED');
    await expectUnchanged(() => api.call('POST', url, { value: 1, version: '1' }), 400, 'VALIDATION_FAILED');
    await expectUnchanged(() => api.call('POST', url, { value: 1, version: 1, extra: 1 }), 400, 'VALIDATION_FAILED');
    await expectUnchanged(() => api.call('POST', url, '{"value": 1', { headers: { 'content-type': 'application/json' } }), 400, 'MALFORMED_JSON');
    await expectUnchanged(() => api.call('POST', url, { value: 'nul\u0000' }), 400, 'UNSTORABLE_TEXT');
    await expectUnchanged(() => api.call('DELETE', url, { version: 'one' }), 400, 'VALIDATION_FAILED');
    await expectUnchanged(() => api.call('DELETE', url, { version: 1, force: true }), 400, 'VALIDATION_FAILED');
    const big = await expectUnchanged(() => api.call('POST', docUrl('bad/big'), { value: 'x'.repeat(MAX_VALUE_BYTES) }), 413, 'VALUE_TOO_LARGE');
    expect(big.body.limit).toBe(MAX_VALUE_BYTES);
    await expectUnchanged(() => api.call('POST', url, { value: { big: '€'.repeat(700) }, version: 1 }), 413, 'VALUE_TOO_LARGE');
  });
});

describe('events and the read model', () => {
  test('document and collection changes leave the system as doc-store.* events', async () => {
    await createCollection(api, 'ev');
    await createDocument(api, 'ev/d', { a: 1 });
    await api.call('PATCH', docUrl('ev/d'), { b: 2 }, { headers: { ...MERGE_PATCH, 'if-match': '"1"' } });
    await api.call('DELETE', docUrl('ev/d'), { version: 2 });
    await api.call('DELETE', '/api/doc-store/collections/ev');
    const store = api.app.get<EventStore>(EVENT_STORE);
    const external = [...(await store.readStream('doc-ev/d')), ...(await store.readStream('doccollection-ev'))].map((e) => toExternalEvent(EXTERNAL_EVENTS, e));
    expect(external).toEqual([
      { type: 'doc-store.document.created', timestamp: expect.any(String), data: { path: 'ev/d', collection: 'ev', value: { a: 1 }, version: 1 } },
      { type: 'doc-store.document.updated', timestamp: expect.any(String), data: { path: 'ev/d', collection: 'ev', value: { a: 1, b: 2 }, change: 'merge-patch', version: 2 } },
      { type: 'doc-store.document.deleted', timestamp: expect.any(String), data: { path: 'ev/d', collection: 'ev', version: 3 } },
      { type: 'doc-store.collection.created', timestamp: expect.any(String), data: { path: 'ev' } },
      { type: 'doc-store.collection.deleted', timestamp: expect.any(String), data: { path: 'ev' } },
    ]);
  });

  test('documents written while their collection is deleted never surface', async () => {
    await createCollection(api, 'race');
    const writes = Promise.all(Array.from({ length: 30 }, (_, i) => api.call('POST', docUrl(`race/d${i}`), { value: { i } })));
    await sleep(20);
    expect((await api.call('DELETE', '/api/doc-store/collections/race')).status).toBe(204);
    const statuses = (await writes).map((r) => r.status);
    expect(statuses.every((s) => s === 201 || s === 404)).toBe(true);
    const store = api.app.get<EventStore>(EVENT_STORE);
    await eventually(async () => {
      const head = await store.headPosition();
      const { rows } = await db.query<{ c: string; p: string }>("SELECT position_commit::text AS c, position_prepare::text AS p FROM projection_checkpoints WHERE name = 'doc-store'");
      return head && BigInt(rows[0].c) >= head.commit ? true : undefined;
    }, 10_000, 'the doc-store projection to catch up');
    const { rows } = await db.query("SELECT path FROM doc_documents WHERE collection = 'race'");
    expect(rows).toEqual([]);
    for (let i = 0; i < 30; i++) expect((await api.call('GET', docUrl(`race/d${i}`))).status).toBe(404);
  });

  test('a document written in a deleted generation of its collection is dropped by the projection', async () => {
    await createCollection(api, 'gen');
    expect((await api.call('DELETE', '/api/doc-store/collections/gen')).status).toBe(204);
    await createCollection(api, 'gen');
    // A slow writer that read the collection's first generation appends after it was deleted and created again.
    const store = api.app.get<EventStore>(EVENT_STORE);
    const metadata = { actor: { kind: 'token' as const, id: 'slow' }, correlationId: 'slow', causationId: 'slow' };
    await store.appendToStream('doc-gen/late', [{ id: randomUUID(), type: 'DocumentCreated', data: { path: 'gen/late', collection: 'gen', generation: 0, value: { late: true } }, metadata }], {
      expectedRevision: 'no_stream',
    });
    await createDocument(api, 'gen/after', { after: true });
    expectProblem(await api.call('GET', docUrl('gen/late')), 404, 'DOCUMENT_NOT_FOUND');
    expect((await api.call('GET', '/api/doc-store/collections/gen')).body).toMatchObject({ documentCount: 1 });
    await expectUnchanged(() => api.call('PATCH', docUrl('gen/late'), { a: 1 }, { headers: { ...MERGE_PATCH, 'if-match': '"1"' } }), 404, 'DOCUMENT_NOT_FOUND');
    expect((await createDocument(api, 'gen/late', { again: true })).body.version).toBe(2);
  });

  test('a rebuild from zero produces the same read model', async () => {
    const before = await snapshot(db);
    expect(before.docs.length).toBeGreaterThan(10);
    const runner = api.app.get(ProjectionRunner);
    await runner.reset('doc-store');
    const store = api.app.get<EventStore>(EVENT_STORE);
    const head = (await store.headPosition())!;
    await eventually(async () => {
      const { rows } = await db.query<{ c: string; p: string }>("SELECT position_commit::text AS c, position_prepare::text AS p FROM projection_checkpoints WHERE name = 'doc-store'");
      return BigInt(rows[0].c) > head.commit || (BigInt(rows[0].c) === head.commit && BigInt(rows[0].p) >= head.prepare) ? true : undefined;
    }, 20_000, 'the rebuild');
    expect(await snapshot(db)).toEqual(before);
  });
});
