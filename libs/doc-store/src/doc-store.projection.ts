import type { PoolClient } from '@app/database';
import type { RecordedEvent } from '@app/event-store';
import type { Projection } from '@app/projections';
import { COLLECTION_EVENT_TYPES, type CollectionEvent } from './collection.decider.js';
import { DOCUMENT_EVENT_TYPES, type DocumentEvent } from './document.decider.js';

/** Upserts per statement are cut at about this many bytes of JSON. */
const CHUNK_BYTES = 4 * 1024 * 1024;

interface Row {
  path: string;
  collection: string;
  value: unknown;
  version: string;
  /** Set when the document was (re)created in this run: the row's created_at is replaced. */
  created_at: string | null;
  updated_at: string;
  updated_by: unknown;
}

const isCollectionEvent = (e: RecordedEvent) => (COLLECTION_EVENT_TYPES as readonly string[]).includes(e.type);

async function applyCollectionEvent(client: PoolClient, recorded: RecordedEvent): Promise<void> {
  const event = { type: recorded.type, data: recorded.data } as CollectionEvent;
  if (event.type === 'DocCollectionCreated') {
    await client.query(
      `INSERT INTO doc_collections (path, generation, document_count, created_at, created_by) VALUES ($1, $2, 0, $3, $4)
       ON CONFLICT (path) DO UPDATE SET generation = excluded.generation, document_count = 0, created_at = excluded.created_at, created_by = excluded.created_by`,
      [event.data.path, event.data.generation, recorded.createdAt, JSON.stringify(recorded.metadata.actor)],
    );
  } else {
    await client.query('DELETE FROM doc_documents WHERE collection = $1', [event.data.path]);
    await client.query('DELETE FROM doc_collections WHERE path = $1 AND generation = $2', [event.data.path, event.data.generation]);
  }
}

/**
 * A run of document events between collection events, in a few statements: events of a collection
 * generation that is not the live one are dropped (written while the collection was being deleted),
 * then each path's last state is deleted or upserted and the collections' document counts adjusted.
 */
async function applyDocumentRun(client: PoolClient, run: readonly RecordedEvent[]): Promise<void> {
  if (!run.length) return;
  const collections = [...new Set(run.map((e) => (e.data as DocumentEvent['data']).collection))];
  const { rows } = await client.query<{ path: string; generation: string }>('SELECT path, generation FROM doc_collections WHERE path = ANY($1)', [collections]);
  const live = new Map(rows.map((r) => [r.path, Number(r.generation)]));
  const last = new Map<string, Row | null>();
  for (const recorded of run) {
    const event = { type: recorded.type, data: recorded.data } as DocumentEvent;
    const { path, collection, generation } = event.data;
    if (live.get(collection) !== generation) continue;
    if (event.type === 'DocumentDeleted') {
      last.set(path, null);
      continue;
    }
    const at = recorded.createdAt.toISOString();
    last.set(path, {
      path,
      collection,
      value: event.data.value,
      version: (recorded.revision + 1n).toString(),
      created_at: event.type === 'DocumentCreated' ? at : (last.get(path)?.created_at ?? null),
      updated_at: at,
      updated_by: recorded.metadata.actor,
    });
  }
  const delta = new Map<string, number>();
  const count = (collection: string, by: number) => delta.set(collection, (delta.get(collection) ?? 0) + by);

  const deletes = [...last].filter(([, row]) => row === null).map(([path]) => path);
  if (deletes.length) {
    const deleted = await client.query<{ collection: string }>('DELETE FROM doc_documents WHERE path = ANY($1) RETURNING collection', [deletes]);
    for (const r of deleted.rows) count(r.collection, -1);
  }
  const upserts = [...last.values()].filter((row): row is Row => row !== null);
  for (const created of [true, false]) {
    for (const chunk of chunks(upserts.filter((r) => (r.created_at !== null) === created))) {
      const inserted = await client.query<{ collection: string; inserted: boolean }>(
        `INSERT INTO doc_documents AS d (path, collection, value, version, created_at, updated_at, updated_by)
         SELECT r.path, r.collection, r.value, r.version, COALESCE(r.created_at, r.updated_at), r.updated_at, r.updated_by
         FROM jsonb_to_recordset($1::jsonb) AS r(path text, collection text, value jsonb, version bigint, created_at timestamptz, updated_at timestamptz, updated_by jsonb)
         ON CONFLICT (path) DO UPDATE SET value = excluded.value, version = excluded.version, updated_at = excluded.updated_at,
           updated_by = excluded.updated_by${created ? ', created_at = excluded.created_at' : ''}
         RETURNING d.collection, (d.xmax = 0) AS inserted`,
        [JSON.stringify(chunk)],
      );
      for (const r of inserted.rows) if (r.inserted) count(r.collection, 1);
    }
  }
  const changed = [...delta].filter(([, n]) => n !== 0);
  if (changed.length) {
    await client.query(
      `UPDATE doc_collections c SET document_count = c.document_count + d.n
       FROM unnest($1::text[], $2::bigint[]) AS d(path, n) WHERE c.path = d.path`,
      [changed.map(([p]) => p), changed.map(([, n]) => n)],
    );
  }
}

function* chunks(rows: readonly Row[]): Generator<Row[]> {
  let chunk: Row[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = JSON.stringify(row.value).length + row.path.length * 2 + 200;
    if (chunk.length && bytes + size > CHUNK_BYTES) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(row);
    bytes += size;
  }
  if (chunk.length) yield chunk;
}

/**
 * Collections and the current documents. Indexes (see the README for which query uses which):
 * path (COLLATE "C", so LIKE 'prefix%' is a range scan), (collection, path), (collection, updated_at, path),
 * (collection, created_at, path), and GIN jsonb_path_ops on value for containment (equality, $in, $contains).
 */
export const docStoreProjection: Projection = {
  name: 'doc-store',
  eventTypes: [...COLLECTION_EVENT_TYPES, ...DOCUMENT_EVENT_TYPES],
  migrations: [
    {
      id: 'doc-store/001-collections-documents',
      sql: `
CREATE TABLE doc_collections (
  path text COLLATE "C" PRIMARY KEY,
  generation bigint NOT NULL,
  document_count bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL,
  created_by jsonb NOT NULL
);
CREATE TABLE doc_documents (
  path text COLLATE "C" PRIMARY KEY,
  collection text COLLATE "C" NOT NULL,
  value jsonb NOT NULL,
  version bigint NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  updated_by jsonb NOT NULL
);
CREATE INDEX doc_documents_collection_path ON doc_documents (collection, path);
CREATE INDEX doc_documents_collection_updated ON doc_documents (collection, updated_at, path);
CREATE INDEX doc_documents_collection_created ON doc_documents (collection, created_at, path);
CREATE INDEX doc_documents_value ON doc_documents USING gin (value jsonb_path_ops);`,
    },
    {
      // The planner estimates value @> … from the column's histogram: with the default 100 buckets a value in
      // 0.2 % of the documents is either missed (a few rows: the GIN index) or hit once (1 %: it walks the path
      // index and filters), so the plan of a rare-value query flipped from one ANALYZE to the next. 1,000
      // buckets keep such estimates within a factor of a few, and the GIN plan stable.
      id: 'doc-store/002-value-statistics',
      sql: `ALTER TABLE doc_documents ALTER COLUMN value SET STATISTICS 1000;`,
    },
  ],

  async apply(client: PoolClient, events: readonly RecordedEvent[]) {
    let run: RecordedEvent[] = [];
    for (const event of events) {
      if (!isCollectionEvent(event)) {
        run.push(event);
        continue;
      }
      await applyDocumentRun(client, run);
      run = [];
      await applyCollectionEvent(client, event);
    }
    await applyDocumentRun(client, run);
  },

  async reset(client: PoolClient) {
    await client.query('TRUNCATE doc_documents, doc_collections');
  },
};
