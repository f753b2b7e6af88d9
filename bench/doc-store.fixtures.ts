// Data and queries of the doc-store bench: 100k documents in 50 collections (org/team-<t>/app-<a>), seeded as
// events straight into the event store tables in big batches; five typical queries, each with the same query
// written by hand in SQL.
import type pg from 'pg';

export const TEAMS = 5;
export const APPS = 10;
export const COLLECTIONS = Array.from({ length: TEAMS * APPS }, (_, i) => `org/team-${Math.floor(i / APPS)}/app-${i % APPS}`);

function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STATUSES = ['queued', 'running', 'done', 'done', 'done', 'done', 'done', 'done', 'failed', 'failed'];
const BRANCHES = ['main', 'main', 'release/1.x', 'release/2.x', 'feature/login', 'feature/billing'];
const TAGS = ['nightly', 'release', 'hotfix', 'flaky', 'smoke'];
const ENVS = ['dev', 'qa', 'uat', 'prod'];

/** A build record as a CI pipeline would store it (about 450 bytes of JSON). */
export function buildDocument(collectionIndex: number, n: number, random: () => number) {
  const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)];
  return {
    status: pick(STATUSES),
    build: { number: n, branch: pick(BRANCHES), durationMs: Math.floor(random() * 600_000), commit: Math.floor(random() * 2 ** 32).toString(16).padStart(8, '0') },
    priority: 1 + Math.floor(random() * 5),
    tags: TAGS.filter(() => random() < 0.25),
    env: pick(ENVS),
    owner: { name: `user-${Math.floor(random() * 200)}`, team: `team-${Math.floor(collectionIndex / APPS)}` },
    title: `Build ${n} of app ${collectionIndex % APPS}`,
    notes: 'Deployed after the smoke suite; artefacts kept for 30 days. '.repeat(3),
  };
}

const SEED_METADATA = { actor: { kind: 'system', id: 'bench-seed' }, correlationId: 'bench-seed', causationId: 'bench-seed' };

async function insertEvents(db: pg.Pool, rows: Array<{ stream_id: string; type: string; data: unknown; created_at: string }>): Promise<void> {
  await db.query(
    `WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(stream_id text, type text, data jsonb, created_at timestamptz)),
       s AS (INSERT INTO es_streams (stream_id, revision) SELECT stream_id, 0 FROM r)
     INSERT INTO es_events (event_id, stream_id, revision, type, data, metadata, created_at)
     SELECT gen_random_uuid(), r.stream_id, 0, r.type, r.data, $2::jsonb, r.created_at FROM r`,
    [JSON.stringify(rows), JSON.stringify(SEED_METADATA)],
  );
}

/**
 * The events the api would have written (DocCollectionCreated, then DocumentCreated per document), appended
 * straight into the postgres event store's tables, several thousand per statement: each statement is one
 * transaction, so $all keeps collections before their documents. Creation times spread over the past weeks.
 */
export async function seedEvents(db: pg.Pool, documents: number, batch = 5000): Promise<void> {
  const start = Date.now() - documents * 20_000;
  await insertEvents(
    db,
    COLLECTIONS.map((path, i) => ({ stream_id: `doccollection-${path}`, type: 'DocCollectionCreated', data: { path, generation: 0 }, created_at: new Date(start - 60_000 + i).toISOString() })),
  );
  const random = prng(42);
  const perCollection = Math.ceil(documents / COLLECTIONS.length);
  let rows: Parameters<typeof insertEvents>[1] = [];
  for (let i = 0; i < documents; i++) {
    const c = i % COLLECTIONS.length;
    const n = Math.floor(i / COLLECTIONS.length) + 1;
    const path = `${COLLECTIONS[c]}/build-${String(n).padStart(String(perCollection).length, '0')}`;
    rows.push({
      stream_id: `doc-${path}`,
      type: 'DocumentCreated',
      data: { path, collection: COLLECTIONS[c], generation: 0, value: buildDocument(c, n, random) },
      created_at: new Date(start + i * 20_000).toISOString(),
    });
    if (rows.length === batch) {
      await insertEvents(db, rows);
      rows = [];
    }
  }
  if (rows.length) await insertEvents(db, rows);
}

export interface TypicalQuery {
  name: string;
  /** The POST /api/doc-store/query body. */
  body: Record<string, unknown>;
  /** The same query written by hand; more than one statement when the body asks for a count. */
  sql: Array<{ text: string; values: unknown[] }>;
}

const COLUMNS = 'path, value, version, created_at, updated_at, updated_by';

/** Q5 continues after the 200th document of a collection sorted by build number: the cursor is that document's key. */
export function typicalQueries(documents: number, q5After: { number: number; path: string }, q5Cursor: string): TypicalQuery[] {
  // Half of each collection's build numbers are at or above this.
  const half = Math.floor(documents / COLLECTIONS.length / 2);
  return [
    {
      name: 'Q1 latest failed builds of one app',
      body: { paths: ['org/team-1/app-3/*'], filter: { status: 'failed' }, sort: [{ field: '$updatedAt', direction: 'desc' }], limit: 20 },
      sql: [
        {
          text: `SELECT ${COLUMNS} FROM doc_documents WHERE collection = $1 AND value @> '{"status": "failed"}' ORDER BY updated_at DESC, path DESC LIMIT 20`,
          values: ['org/team-1/app-3'],
        },
      ],
    },
    {
      name: 'Q2 a team subtree: release builds in the upper half, highest first',
      body: {
        paths: ['org/team-2/**'],
        filter: { 'build.branch': { $prefix: 'release/' }, 'build.number': { $gte: half } },
        sort: [{ field: 'build.number', direction: 'desc' }],
        limit: 50,
      },
      sql: [
        {
          text: `SELECT ${COLUMNS} FROM doc_documents
                 WHERE path LIKE 'org/team-2/%' AND value->'build'->>'branch' LIKE 'release/%' AND (value->'build'->>'number')::int >= $1
                 ORDER BY value->'build'->'number' DESC, path DESC LIMIT 50`,
          values: [half],
        },
      ],
    },
    {
      name: 'Q3 two apps of every team: prod, nightly or hotfix, by priority then newest',
      body: {
        paths: ['org/*/app-1/*', 'org/*/app-2/*'],
        filter: { env: 'prod', $or: [{ tags: { $contains: 'nightly' } }, { tags: { $contains: 'hotfix' } }] },
        sort: [{ field: 'priority' }, { field: '$createdAt', direction: 'desc' }],
        limit: 50,
      },
      sql: [
        {
          text: `SELECT ${COLUMNS} FROM doc_documents
                 WHERE collection ~ '^org/[^/]+/app-(1|2)$' AND value @> '{"env": "prod"}' AND (value @> '{"tags": ["nightly"]}' OR value @> '{"tags": ["hotfix"]}')
                 ORDER BY value->'priority', created_at DESC, path DESC LIMIT 50`,
          values: [],
        },
      ],
    },
    {
      name: "Q4 one owner's open builds everywhere, newest first, with a count",
      body: { paths: ['**'], filter: { 'owner.name': 'user-42', status: { $in: ['queued', 'running'] } }, sort: [{ field: '$updatedAt', direction: 'desc' }], limit: 25, count: true },
      sql: [
        {
          text: `SELECT ${COLUMNS} FROM doc_documents WHERE value @> '{"owner": {"name": "user-42"}}' AND value->>'status' IN ('queued', 'running') ORDER BY updated_at DESC, path DESC LIMIT 25`,
          values: [],
        },
        { text: `SELECT count(*) FROM doc_documents WHERE value @> '{"owner": {"name": "user-42"}}' AND value->>'status' IN ('queued', 'running')`, values: [] },
      ],
    },
    {
      name: 'Q5 third page of a collection by build number (cursor)',
      body: { paths: ['org/team-4/app-9/*'], sort: [{ field: 'build.number' }], limit: 100, cursor: q5Cursor },
      sql: [
        {
          text: `SELECT ${COLUMNS} FROM doc_documents WHERE collection = $1 AND (value->'build'->'number', path) > ($2::jsonb, $3) ORDER BY value->'build'->'number', path LIMIT 100`,
          values: ['org/team-4/app-9', String(q5After.number), q5After.path],
        },
      ],
    },
  ];
}
