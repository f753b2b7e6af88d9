import type pg from 'pg';
import type { TestApi } from './api.js';

export type Res = Awaited<ReturnType<TestApi['call']>>;

export const docUrl = (path: string) => `/api/doc-store/docs/${path}`;
export const MERGE_PATCH = { 'content-type': 'application/merge-patch+json' };

export async function createCollection(api: TestApi, path: string, token?: string): Promise<void> {
  const res = await api.call('POST', '/api/doc-store/collections', { path }, { token });
  if (res.status !== 201) throw new Error(`create collection ${path}: ${res.status} ${JSON.stringify(res.body)}`);
}

export async function createDocument(api: TestApi, path: string, value: unknown, token?: string): Promise<Res> {
  const res = await api.call('POST', docUrl(path), { value }, { token });
  if (res.status !== 201) throw new Error(`create ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

/** Everything a request could have changed: the event log and both doc-store tables. */
export async function snapshot(db: pg.Client) {
  const events = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM es_events');
  const docs = await db.query('SELECT path, collection, value, version, created_at, updated_at FROM doc_documents ORDER BY path');
  const collections = await db.query('SELECT path, generation, document_count FROM doc_collections ORDER BY path');
  return { events: events.rows[0].n, docs: docs.rows, collections: collections.rows };
}
