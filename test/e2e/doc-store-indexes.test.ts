import { runMigrations } from '@app/database';
import { compileQuery, docStoreProjection, parseDocumentQuery } from '@app/doc-store';
import pg from 'pg';
import { createTestDatabase } from '../support/database.js';

// The plans of the SQL the query compiler writes, on 40k documents in 40 collections: each typical shape
// must be served by the index the README names for it (a scan of doc_collections, 40 rows, is fine).
let db: { url: string; drop(): Promise<void> };
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase('doc_indexes');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await runMigrations(pool, docStoreProjection.migrations);
  await pool.query(`
    INSERT INTO doc_documents (path, collection, value, version, created_at, updated_at, updated_by)
    SELECT 'org/c' || (i % 40) || '/d' || i, 'org/c' || (i % 40),
           jsonb_build_object('status', CASE WHEN i % 500 = 0 THEN 'rare' ELSE 'common' END, 'build', jsonb_build_object('number', i),
                              'tags', CASE WHEN i % 400 = 0 THEN '["flaky"]'::jsonb ELSE '["ok"]'::jsonb END, 'owner', 'user-' || (i % 300)),
           1, now() - i * interval '1 minute', now() - i * interval '1 minute', '{"kind": "system", "id": "test"}'
    FROM generate_series(1, 40000) AS i`);
  await pool.query(`INSERT INTO doc_collections (path, generation, document_count, created_at, created_by)
    SELECT 'org/c' || i, 0, 1000, now(), '{"kind": "system", "id": "test"}' FROM generate_series(0, 39) AS i`);
  await pool.query('VACUUM ANALYZE doc_documents');
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

async function indexesUsed(body: Record<string, unknown>, allowed: string[] | null = null): Promise<string[]> {
  const { page } = compileQuery(parseDocumentQuery(body), allowed, null);
  const { rows } = await pool.query({ text: `EXPLAIN (FORMAT JSON) ${page.text}`, values: page.values });
  const found: string[] = [];
  const visit = (node: Record<string, unknown>) => {
    if (node['Index Name']) found.push(String(node['Index Name']));
    if (node['Node Type'] === 'Seq Scan') found.push(`Seq Scan on ${node['Relation Name']}`);
    for (const child of (node.Plans as Array<Record<string, unknown>>) ?? []) visit(child);
  };
  visit(rows[0]['QUERY PLAN'][0].Plan);
  return found;
}

test.each<[string, Record<string, unknown>, string, string[] | null]>([
  ['one collection, newest first', { paths: ['org/c7/*'], sort: [{ field: '$updatedAt', direction: 'desc' }], limit: 20 }, 'doc_documents_collection_updated', null],
  ['one collection, oldest created first', { paths: ['org/c7/*'], sort: [{ field: '$createdAt' }], limit: 20 }, 'doc_documents_collection_created', null],
  ['one collection by path', { paths: ['org/c7/*'], limit: 20 }, 'doc_documents_collection_path', null],
  ['collections named with a wildcard', { paths: ['org/c*7/*'], sort: [{ field: 'build.number' }], limit: 20 }, 'doc_documents_collection_path', null],
  ['a subtree by path', { paths: ['org/**'], sort: [{ field: '$path' }], limit: 20 }, 'doc_documents_pkey', null],
  ['$path $prefix', { filter: { $path: { $prefix: 'org/c1/d1' } }, limit: 20 }, 'doc_documents_pkey', null],
  ['a rare value everywhere', { filter: { status: 'rare' }, limit: 20 }, 'doc_documents_value', null],
  ['$in on a nested field', { filter: { 'build.number': { $in: [5, 77, 901] } }, limit: 20 }, 'doc_documents_value', null],
  ['$contains', { filter: { tags: { $contains: 'flaky' } }, limit: 20 }, 'doc_documents_value', null],
  ['everything, for a token scoped to one collection', { paths: ['**'], limit: 20 }, 'doc_documents_collection_path', ['org/c7/*']],
  ['everything, for a token scoped to a subtree', { paths: ['**'], sort: [{ field: '$path' }], limit: 20 }, 'doc_documents_pkey', ['org/c1/**']],
])('%s', async (_label, body, index, allowed) => {
  const used = await indexesUsed(body, allowed);
  expect(used).toContain(index);
  expect(used).not.toContain('Seq Scan on doc_documents');
});
