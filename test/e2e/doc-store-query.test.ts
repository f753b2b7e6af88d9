import { DocumentQueryService, parseDocumentQuery } from '@app/doc-store';
import type pg from 'pg';
import { startTestApi, type TestApi } from '../support/api.js';
import { createCollection, createDocument, docUrl, MERGE_PATCH, snapshot } from '../support/doc-store.js';
import { connectDatabase, expectProblem, sleep } from '../support/problem.js';

let api: TestApi;
let db: pg.Client;

const DOCS: Record<string, unknown> = {
  'q/a/1': { status: 'done', build: { number: 10, branch: 'main' }, tags: ['nightly', 'release'], priority: 1, title: 'alpha' },
  'q/a/2': { status: 'failed', build: { number: 11, branch: 'feature/x' }, tags: ['nightly'], priority: 2, title: 'beta' },
  'q/a/3': { status: 'done', build: { number: 12, branch: 'main' }, tags: [], priority: 2, title: 'gamma', note: null },
  'q/b/1': { status: 'running', build: { number: 3, branch: 'main' }, tags: ['release'], priority: 1, title: 'alpine' },
  'q/b/2': { status: 'done', build: { number: '7' }, priority: 3, title: 'delta', owner: { name: 'ann', team: 'core' } },
  'q/b/sub/1': { status: 'done', build: { number: 20, branch: 'release/1' }, tags: ['release', 'hotfix'], priority: 1, items: [{ name: 'x' }, { name: 'y' }] },
  'other/1': { status: 'done', build: { number: 99 }, priority: 1 },
};
let patchedAt = '';

beforeAll(async () => {
  api = await startTestApi();
  db = await connectDatabase(api.databaseUrl);
  for (const c of ['q/a', 'q/b', 'q/b/sub', 'other']) await createCollection(api, c);
  for (const [path, value] of Object.entries(DOCS)) await createDocument(api, path, value);
  await sleep(5);
  // q/a/1 gets a second version (for $version and $updatedAt); its value stays as in DOCS.
  const patched = await api.call('PATCH', docUrl('q/a/1'), {}, { headers: { ...MERGE_PATCH, 'if-match': '"1"' } });
  patchedAt = patched.body.updatedAt;
});
afterAll(async () => {
  await db?.end();
  await api?.close();
});

async function query(body: Record<string, unknown>) {
  const res = await api.call('POST', '/api/doc-store/query', body);
  if (res.status !== 200) throw new Error(`${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { items: Array<{ path: string; value: any; version: number }>; nextCursor: string | null; total?: number };
}

const paths = async (filter: unknown, patterns = ['q/**']) => (await query({ paths: patterns, filter, limit: 100 })).items.map((d) => d.path);

describe('filter operators', () => {
  test.each<[string, unknown, string[]]>([
    ['implicit $eq', { status: 'done' }, ['q/a/1', 'q/a/3', 'q/b/2', 'q/b/sub/1']],
    ['$eq on a nested field', { 'build.branch': { $eq: 'main' } }, ['q/a/1', 'q/a/3', 'q/b/1']],
    ['equality of an object is exact', { owner: { name: 'ann', team: 'core' } }, ['q/b/2']],
    ['…not containment', { owner: { $eq: { name: 'ann' } } }, []],
    ['equality of an array is exact', { tags: ['nightly'] }, ['q/a/2']],
    ['$eq null is JSON null, not missing', { note: null }, ['q/a/3']],
    ['numbers and strings differ', { 'build.number': 7 }, []],
    ['$ne (missing fields match)', { 'build.branch': { $ne: 'main' } }, ['q/a/2', 'q/b/2', 'q/b/sub/1']],
    ['$gt compares numbers with numbers only', { 'build.number': { $gt: 10 } }, ['q/a/2', 'q/a/3', 'q/b/sub/1']],
    ['$gte', { 'build.number': { $gte: 10 } }, ['q/a/1', 'q/a/2', 'q/a/3', 'q/b/sub/1']],
    ['$lt', { 'build.number': { $lt: 11 } }, ['q/a/1', 'q/b/1']],
    ['$lte', { 'build.number': { $lte: 3 } }, ['q/b/1']],
    ['a range on strings', { title: { $gte: 'beta', $lt: 'delta' } }, ['q/a/2']],
    ['$in on scalars', { status: { $in: ['running', 'failed'] } }, ['q/a/2', 'q/b/1']],
    ['$in of a number and a string', { 'build.number': { $in: [3, '7'] } }, ['q/b/1', 'q/b/2']],
    ['$in of an object', { owner: { $in: [{ name: 'ann', team: 'core' }] } }, ['q/b/2']],
    ['$nin (missing fields match)', { 'build.branch': { $nin: ['main', 'feature/x'] } }, ['q/b/2', 'q/b/sub/1']],
    ['$contains an element', { tags: { $contains: 'release' } }, ['q/a/1', 'q/b/1', 'q/b/sub/1']],
    ['$contains all of several elements', { tags: { $contains: ['nightly', 'release'] } }, ['q/a/1']],
    ['$contains keys of an object', { owner: { $contains: { team: 'core' } } }, ['q/b/2']],
    ['$contains an object in an array', { items: { $contains: { name: 'y' } } }, ['q/b/sub/1']],
    ['$exists true (null exists)', { note: { $exists: true } }, ['q/a/3']],
    ['$exists false', { tags: { $exists: false } }, ['q/b/2']],
    ['$exists on a nested field', { 'owner.team': { $exists: true } }, ['q/b/2']],
    ['$prefix on a nested field', { 'build.branch': { $prefix: 'release/' } }, ['q/b/sub/1']],
    ['$prefix', { title: { $prefix: 'alp' } }, ['q/a/1', 'q/b/1']],
    ['an array element by index', { 'items.1.name': 'y' }, ['q/b/sub/1']],
    ['$and', { $and: [{ status: 'done' }, { priority: 1 }] }, ['q/a/1', 'q/b/sub/1']],
    ['several fields are an implicit $and', { status: 'done', 'build.number': { $gte: 12 } }, ['q/a/3', 'q/b/sub/1']],
    ['$or', { $or: [{ status: 'failed' }, { priority: 3 }] }, ['q/a/2', 'q/b/2']],
    ['$not of a filter', { $not: { status: 'done' } }, ['q/a/2', 'q/b/1']],
    ['$not on a field (missing and other types match)', { 'build.number': { $not: { $gt: 10 } } }, ['q/a/1', 'q/b/1', 'q/b/2']],
    ['nested logic', { $or: [{ $and: [{ status: 'done' }, { tags: { $contains: 'hotfix' } }] }, { $not: { priority: { $lte: 2 } } }] }, ['q/b/2', 'q/b/sub/1']],
    ['$collection', { $collection: 'q/a' }, ['q/a/1', 'q/a/2', 'q/a/3']],
    ['$path $prefix', { $path: { $prefix: 'q/b/' } }, ['q/b/1', 'q/b/2', 'q/b/sub/1']],
    ['$path $in', { $path: { $in: ['q/a/2', 'q/b/1', 'nope/x'] } }, ['q/a/2', 'q/b/1']],
    ['$version', { $version: { $gte: 2 } }, ['q/a/1']],
    ['an empty filter', {}, ['q/a/1', 'q/a/2', 'q/a/3', 'q/b/1', 'q/b/2', 'q/b/sub/1']],
  ])('%s', async (_label, filter, expected) => {
    expect(await paths(filter)).toEqual(expected);
  });

  test('$updatedAt and $createdAt', async () => {
    expect(await paths({ $updatedAt: { $gte: patchedAt } })).toEqual(['q/a/1']);
    expect(await paths({ $createdAt: { $gte: patchedAt } })).toEqual([]);
  });

  test('values reach SQL as parameters only', async () => {
    const before = await snapshot(db);
    expect(await paths({ "status'; DELETE FROM doc_documents; --": 'x' })).toEqual([]);
    expect(await paths({ status: "done' OR '1'='1" })).toEqual([]);
    expect(await paths({ 'build.branch': { $prefix: "%' OR true --" } })).toEqual([]);
    expect(await paths({ 'build.branch': { $prefix: '%' } })).toEqual([]);
    expect(await snapshot(db)).toEqual(before);
  });
});

describe('path patterns', () => {
  test.each<[string[], string[]]>([
    [['q/b/*'], ['q/b/1', 'q/b/2']],
    [['q/b/**'], ['q/b/1', 'q/b/2', 'q/b/sub/1']],
    [['q/*/1'], ['q/a/1', 'q/b/1']],
    [['q/**/1'], ['q/a/1', 'q/b/1', 'q/b/sub/1']],
    [['**/1'], ['other/1', 'q/a/1', 'q/b/1', 'q/b/sub/1']],
    [['q/a/*', 'other/*'], ['other/1', 'q/a/1', 'q/a/2', 'q/a/3']],
    [['q/*/sub/*'], ['q/b/sub/1']],
    [['q/a/2'], ['q/a/2']],
    [['q/b'], []],
    [['q/a_/*'], []],
  ])('%j', async (patterns, expected) => {
    expect(await paths(undefined, patterns)).toEqual(expected);
  });
});

describe('sort, projection, count', () => {
  test('several fields with directions; the path breaks ties', async () => {
    const sorted = await query({ paths: ['q/**'], sort: [{ field: 'priority' }, { field: 'build.number', direction: 'desc' }] });
    expect(sorted.items.map((d) => d.path)).toEqual(['q/b/sub/1', 'q/a/1', 'q/b/1', 'q/a/3', 'q/a/2', 'q/b/2']);
  });

  test('values of different types sort by type (null < string < number), missing fields as null', async () => {
    expect((await query({ paths: ['q/**'], sort: [{ field: 'build.number' }] })).items.map((d) => d.path)).toEqual(['q/b/2', 'q/b/1', 'q/a/1', 'q/a/2', 'q/a/3', 'q/b/sub/1']);
    expect((await query({ paths: ['q/**'], sort: [{ field: 'owner.name', direction: 'desc' }] })).items.map((d) => d.path)).toEqual(['q/b/2', 'q/b/sub/1', 'q/b/1', 'q/a/3', 'q/a/2', 'q/a/1']);
  });

  test('metadata sort keys (ties broken by path in the direction of the last key)', async () => {
    expect((await query({ paths: ['q/**'], sort: [{ field: '$updatedAt', direction: 'desc' }], limit: 1 })).items[0].path).toBe('q/a/1');
    expect((await query({ paths: ['q/**'], sort: [{ field: '$path', direction: 'desc' }] })).items.map((d) => d.path)).toEqual(['q/b/sub/1', 'q/b/2', 'q/b/1', 'q/a/3', 'q/a/2', 'q/a/1']);
    expect((await query({ paths: ['q/**'], sort: [{ field: '$collection' }, { field: '$version', direction: 'desc' }] })).items.map((d) => d.path)).toEqual(['q/a/1', 'q/a/3', 'q/a/2', 'q/b/2', 'q/b/1', 'q/b/sub/1']);
  });

  test('every sort gives the same order page by page as in one page', async () => {
    const sorts = [
      [{ field: 'priority' }, { field: 'build.number', direction: 'desc' }],
      [{ field: 'build.number', direction: 'desc' }],
      [{ field: '$updatedAt', direction: 'desc' }, { field: 'title' }],
      [{ field: 'status' }, { field: '$createdAt' }],
      [],
    ];
    for (const sort of sorts) {
      const whole = (await query({ paths: ['**'], sort })).items.map((d) => d.path);
      const paged: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await query({ paths: ['**'], sort, limit: 2, cursor });
        paged.push(...page.items.map((d) => d.path));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(paged).toEqual(whole);
    }
  });

  test('fields returns only those value fields; count gives the total', async () => {
    const res = await query({ paths: ['q/a/*'], fields: ['build.number', 'title', 'missing.field'], count: true, limit: 2 });
    expect(res.total).toBe(3);
    expect(res.items).toEqual([
      expect.objectContaining({ path: 'q/a/1', version: 2, value: { build: { number: 10 }, title: 'alpha' } }),
      expect.objectContaining({ path: 'q/a/2', value: { build: { number: 11 }, title: 'beta' } }),
    ]);
    expect((await query({ paths: ['q/a/*'], cursor: res.nextCursor!, fields: ['build.number', 'title', 'missing.field'], limit: 2 })).items.map((d) => d.path)).toEqual(['q/a/3']);
  });

  test('the GET form answers as the POST form', async () => {
    const filter = encodeURIComponent(JSON.stringify({ status: 'done' }));
    const res = await api.call('GET', `/api/doc-store/query?paths=q/a/*,q/b/**&filter=${filter}&sort=-build.number,$path&limit=3&count=true&fields=title`);
    const post = await query({ paths: ['q/a/*', 'q/b/**'], filter: { status: 'done' }, sort: [{ field: 'build.number', direction: 'desc' }, { field: '$path' }], limit: 3, count: true, fields: ['title'] });
    expect(res.body).toEqual(post);
    expect(post.items.map((d) => d.path)).toEqual(['q/b/sub/1', 'q/a/3', 'q/a/1']);
    const repeated = await api.call('GET', '/api/doc-store/query?paths=q/a/1&paths=q/b/1');
    expect(repeated.body.items.map((d: { path: string }) => d.path)).toEqual(['q/a/1', 'q/b/1']);
  });
});

describe('cursor pagination under concurrent inserts', () => {
  test.each([
    ['a value field ascending', [{ field: 'rank' }]],
    ['metadata descending', [{ field: '$createdAt', direction: 'desc' }]],
    ['mixed directions', [{ field: 'rank', direction: 'desc' }, { field: 'n' }]],
  ])('%s: no document is repeated or skipped', async (label, sort) => {
    const collection = `page/${label.replace(/\W+/g, '-')}`;
    await createCollection(api, collection);
    const originals = Array.from({ length: 24 }, (_, n) => `${collection}/d${String(n).padStart(2, '0')}`);
    await Promise.all(originals.map((path, n) => createDocument(api, path, { rank: n % 4, n })));
    const seen: Array<{ path: string; value: { rank: number; n: number } }> = [];
    let cursor: string | undefined;
    let inserted = 0;
    do {
      const page = await query({ paths: [`${collection}/*`], sort, limit: 4, cursor });
      seen.push(...page.items);
      cursor = page.nextCursor ?? undefined;
      // New documents land before and after the cursor.
      await Promise.all([0, 1, 2].map(() => {
        const n = 100 + inserted++;
        return createDocument(api, `${collection}/new${n}`, { rank: n % 4, n });
      }));
    } while (cursor);
    const seenPaths = seen.map((d) => d.path);
    expect(new Set(seenPaths).size).toBe(seenPaths.length);
    expect(originals.filter((p) => !seenPaths.includes(p))).toEqual([]);
    const keys = seen.map((d) => d.value.rank);
    if (label === 'a value field ascending') expect(keys).toEqual([...keys].sort((a, b) => a - b));
    if (label === 'mixed directions') expect(keys).toEqual([...keys].sort((a, b) => b - a));
  });
});

describe('the query service other features use (e.g. an export task)', () => {
  test('pages() walks every matching document once, within the caller\'s patterns', async () => {
    const service = api.app.get(DocumentQueryService);
    const query = parseDocumentQuery({ paths: ['q/**', 'other/*'], filter: { status: 'done' }, sort: [{ field: 'build.number', direction: 'desc' }], limit: 2 });
    const seen: string[] = [];
    for await (const page of service.pages(query, null)) seen.push(...page.map((d) => d.path));
    expect(seen).toEqual(['other/1', 'q/b/sub/1', 'q/a/3', 'q/a/1', 'q/b/2']);
    const scoped: string[] = [];
    for await (const page of service.pages(query, ['q/a/*'])) scoped.push(...page.map((d) => d.path));
    expect(scoped).toEqual(['q/a/3', 'q/a/1']);
  });
});

describe('invalid queries: 400 INVALID_QUERY naming the bad part', () => {
  const otherCursor = async () => (await query({ paths: ['q/**'], limit: 1 })).nextCursor!;

  test.each<[string, unknown, string]>([
    ['paths not an array', { paths: 'q/**' }, 'paths'],
    ['an empty pattern segment', { paths: ['q//x'] }, 'paths[0]'],
    ['** inside a segment', { paths: ['q/a**'] }, 'paths[0]'],
    ['a character outside patterns', { paths: ['q/$'] }, 'paths[0]'],
    ['a character class', { paths: ['q/a', 'q/a/[12]'] }, 'paths[1]'],
    ['a filter that is an array', { filter: [] }, 'filter'],
    ['an unknown operator', { filter: { status: { $regex: 'x' } } }, 'filter.status.$regex'],
    ['an empty $or', { filter: { $or: [] } }, 'filter.$or'],
    ['a non-object in $or', { filter: { $or: [{ a: 1 }, 5] } }, 'filter.$or[1]'],
    ['$gt with a boolean', { filter: { 'build.number': { $gt: true } } }, 'filter.build.number.$gt'],
    ['$in with a non-array', { filter: { a: { $in: 5 } } }, 'filter.a.$in'],
    ['$exists with a string', { filter: { a: { $exists: 'yes' } } }, 'filter.a.$exists'],
    ['$prefix with a number', { filter: { a: { $prefix: 5 } } }, 'filter.a.$prefix'],
    ['$contains null', { filter: { a: { $contains: null } } }, 'filter.a.$contains'],
    ['operators mixed with fields', { filter: { a: { $gt: 1, b: 2 } } }, 'filter.a'],
    ['an empty field segment', { filter: { 'a..b': 1 } }, 'filter.a..b'],
    ['an unknown $ field', { filter: { $bogus: 1 } }, 'filter.$bogus'],
    ['a bad time', { filter: { $updatedAt: { $gt: 'yesterday' } } }, 'filter.$updatedAt.$gt'],
    ['a bad version', { filter: { $version: { $gt: 'x' } } }, 'filter.$version.$gt'],
    ['$exists on metadata', { filter: { $path: { $exists: true } } }, 'filter.$path.$exists'],
    ['a bad $not', { filter: { a: { $not: 5 } } }, 'filter.a.$not'],
    ['nesting too deep', { filter: JSON.parse('{"$not":'.repeat(12) + '{"a":1}' + '}'.repeat(12)) }, 'filter' + '.$not'.repeat(11)],
    ['a bad direction', { sort: [{ field: 'a', direction: 'up' }] }, 'sort[0].direction'],
    ['an empty sort field', { sort: [{ field: '' }] }, 'sort[0].field'],
    ['a field sorted twice', { sort: [{ field: 'a' }, { field: 'a', direction: 'desc' }] }, 'sort[1].field'],
    ['an unknown sort property', { sort: [{ field: 'a', order: 'asc' }] }, 'sort[0].order'],
    ['limit 0', { limit: 0 }, 'limit'],
    ['limit over 1000', { limit: 1001 }, 'limit'],
    ['limit as text', { limit: 'ten' }, 'limit'],
    ['a garbage cursor', { cursor: 'garbage' }, 'cursor'],
    ['count as text', { count: 'yes' }, 'count'],
    ['a metadata field in fields', { fields: ['$path'] }, 'fields[0]'],
    ['an unknown property', { paths: ['q/**'], where: {} }, 'where'],
  ])('%s', async (_label, body, at) => {
    const before = await snapshot(db);
    const res = await api.call('POST', '/api/doc-store/query', body);
    expectProblem(res, 400, 'INVALID_QUERY');
    expect(res.body.at).toBe(at);
    expect(res.body.detail).toContain(at);
    expect(await snapshot(db)).toEqual(before);
  });

  test('a cursor of another query', async () => {
    const res = await api.call('POST', '/api/doc-store/query', { paths: ['q/a/*'], limit: 1, cursor: await otherCursor() });
    expectProblem(res, 400, 'INVALID_QUERY');
    expect(res.body.at).toBe('cursor');
    const forged = Buffer.from(JSON.stringify({ s: 'x', k: '[1, "x"]' })).toString('base64url');
    expect((await api.call('POST', '/api/doc-store/query', { cursor: forged })).body.at).toBe('cursor');
  });

  test('the body is not an object; GET parameters', async () => {
    expect((await api.call('POST', '/api/doc-store/query', [1])).body).toMatchObject({ status: 400, code: 'INVALID_QUERY', at: 'body' });
    expect((await api.call('POST', '/api/doc-store/query', '{"paths": [', { headers: { 'content-type': 'application/json' } })).body.code).toBe('MALFORMED_JSON');
    for (const [qs, at] of [
      ['filter=notjson', 'filter'],
      ['limit=x', 'limit'],
      ['bogus=1', 'bogus'],
      ['count=maybe', 'count'],
      ['filter=1&filter=2', 'filter'],
      ['sort=a,-a', 'sort[1].field'],
    ]) {
      const res = await api.call('GET', `/api/doc-store/query?${qs}`);
      expectProblem(res, 400, 'INVALID_QUERY');
      expect(res.body.at).toBe(at);
    }
  });
});
