// webhook_claim on real PostgreSQL: endpoint ownership (one owner at a time, a fair share per live process
// manager, hand-over on release or when a lease runs out), reading due rows, the rate bucket, and outcomes
// stored only by the owner.
import { createPool, type Pool, runMigrations } from '@app/database';
import pg from 'pg';
import { createTestDatabase } from '../../../../test/support/database.js';
import { webhookDispatchMigrations } from './dispatch.schema.js';

interface Target {
  id: string;
  want?: number;
  rate?: number | null;
  leaseMs?: number;
  renew?: boolean;
  anyTime?: boolean;
}
interface Done {
  id: string;
  status: string;
  revision?: number;
  attempts?: number;
  next?: string | null;
}
interface Round {
  heartbeat?: boolean;
  done?: Done[];
  endpoints?: Target[];
  exclude?: string[];
  release?: string[];
}
interface ClaimRow {
  delivery_id: string | null;
  endpoint_id: string;
  claims: number | null;
  owned: boolean | null;
  surplus: boolean | null;
}

async function claim(q: Pick<Pool, 'query'>, owner: string, round: Round) {
  const done = round.done ?? [];
  const targets = round.endpoints ?? [];
  const { rows } = await q.query<ClaimRow>(
    `SELECT delivery_id, endpoint_id, claims, owned, surplus FROM webhook_claim($1, $2, $3::uuid[], $4::text[], $5::bigint[], $6::integer[], $7::timestamptz[],
       $8::text[], $9::integer[], $10::float8[], $11::integer[], $12::boolean[], $13::boolean[], $14::uuid[], $15::text[])`,
    [
      owner,
      round.heartbeat ?? true,
      done.map((d) => d.id),
      done.map((d) => d.status),
      done.map((d) => d.revision ?? -1),
      done.map((d) => d.attempts ?? 1),
      done.map((d) => d.next ?? null),
      targets.map((t) => t.id),
      targets.map((t) => t.want ?? 10),
      targets.map((t) => t.rate ?? null),
      targets.map((t) => t.leaseMs ?? 60_000),
      targets.map((t) => t.renew ?? true),
      targets.map((t) => t.anyTime ?? false),
      round.exclude ?? [],
      round.release ?? [],
    ],
  );
  const owned = new Map(rows.filter((r) => r.delivery_id === null).map((r) => [r.endpoint_id, r.surplus ? 'surplus' : r.owned ? 'owned' : 'not owned']));
  return { owned: Object.fromEntries(owned), rows: rows.filter((r) => r.delivery_id !== null) };
}

describe('webhook_claim', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: Pool;

  const enqueue = async (endpointId: string, n: number, dueInMs = -1000) => {
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO webhook_queue (delivery_id, endpoint_id, message_id, correlation_id, status, revision, next_attempt_at, payload)
       SELECT gen_random_uuid(), $1, 'msg', 'c', 'pending', -1, now() + $3 * interval '1 millisecond' + i * interval '1 millisecond', '{}' FROM generate_series(1, $2) AS i
       RETURNING delivery_id AS id`,
      [endpointId, n, dueInMs],
    );
    return rows.map((r) => r.id);
  };
  const row = async (id: string) => (await pool.query<{ status: string; claims: number }>('SELECT status, claims FROM webhook_queue WHERE delivery_id = $1', [id])).rows[0];
  /** A process manager that stopped sending heartbeats (its process is gone). */
  const gone = (owner: string) => pool.query(`UPDATE webhook_dispatchers SET seen_at = now() - interval '10 seconds' WHERE owner = $1`, [owner]);

  beforeAll(async () => {
    db = await createTestDatabase('webhook_claim');
    pool = createPool(db.url, { max: 10 });
    await runMigrations(pool, webhookDispatchMigrations);
  });
  beforeEach(async () => {
    await pool.query('TRUNCATE webhook_queue, webhook_endpoint_owners, webhook_dispatchers, webhook_rate_buckets');
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  test('concurrent callers: each endpoint gets one owner, and only its owner reads its rows', async () => {
    for (const e of ['a', 'b', 'c']) await enqueue(e, 20);
    const rounds = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          return { owner: `pm-${i}`, ...(await claim(client, `pm-${i}`, { endpoints: ['a', 'b', 'c'].map((id) => ({ id, want: 5 })) })) };
        } finally {
          await client.end();
        }
      }),
    );
    for (const e of ['a', 'b', 'c']) {
      const owners = rounds.filter((r) => r.owned[e] === 'owned' || r.owned[e] === 'surplus');
      expect(owners).toHaveLength(1);
      expect(rounds.flatMap((r) => r.rows).filter((r) => r.endpoint_id === e)).toHaveLength(5);
      expect(owners[0].rows.filter((r) => r.endpoint_id === e)).toHaveLength(5);
    }
    const ids = rounds.flatMap((r) => r.rows.map((x) => x.delivery_id));
    expect(new Set(ids).size).toBe(ids.length);
    const { rows } = await pool.query('SELECT endpoint_id, owner FROM webhook_endpoint_owners ORDER BY endpoint_id');
    expect(rows.map((r) => r.endpoint_id)).toEqual(['a', 'b', 'c']);
  });

  test('a fair share per live process manager: beyond it an endpoint is surplus until its owner lets it go', async () => {
    const both = { endpoints: [{ id: 'e1', want: 0 }, { id: 'e2', want: 0 }] };
    expect((await claim(pool, 'pm-1', both)).owned).toEqual({ e1: 'owned', e2: 'owned' });
    // A second process manager: half each, but e2 is pm-1's until pm-1 lets it go.
    expect((await claim(pool, 'pm-2', both)).owned).toEqual({ e1: 'not owned', e2: 'not owned' });
    expect((await claim(pool, 'pm-1', both)).owned).toEqual({ e1: 'owned', e2: 'surplus' });
    expect((await claim(pool, 'pm-1', { endpoints: [{ id: 'e1', want: 0 }], release: ['e2'] })).owned).toEqual({ e1: 'owned' });
    expect((await claim(pool, 'pm-2', both)).owned).toEqual({ e1: 'not owned', e2: 'owned' });
    expect((await claim(pool, 'pm-1', both)).owned).toEqual({ e1: 'owned', e2: 'not owned' });
    // pm-2 stops (its heartbeats end, its lease runs out): pm-1 takes everything again.
    await gone('pm-2');
    await pool.query(`UPDATE webhook_endpoint_owners SET until = now() - interval '1 second' WHERE owner = 'pm-2'`);
    expect((await claim(pool, 'pm-1', both)).owned).toEqual({ e1: 'owned', e2: 'owned' });
  });

  test('a released endpoint is not taken beyond the fair share', async () => {
    const both = { endpoints: [{ id: 'e1', want: 0 }, { id: 'e2', want: 0 }] };
    await claim(pool, 'pm-1', { endpoints: [{ id: 'e1', want: 0 }] });
    await claim(pool, 'pm-2', { endpoints: [{ id: 'e2', want: 0 }] });
    // pm-2 lets e2 go but is still alive: pm-1 has its one of two already.
    await claim(pool, 'pm-2', { heartbeat: true, release: ['e2'] });
    expect((await claim(pool, 'pm-1', both)).owned).toEqual({ e1: 'owned', e2: 'not owned' });
  });

  test('a released endpoint taken by two callers at once gets one owner', async () => {
    await claim(pool, 'pm-0', { endpoints: [{ id: 'e1', want: 0 }], release: [] });
    await claim(pool, 'pm-0', { heartbeat: false, release: ['e1'] });
    await gone('pm-0');
    const a = new pg.Client({ connectionString: db.url });
    const b = new pg.Client({ connectionString: db.url });
    await Promise.all([a.connect(), b.connect()]);
    try {
      // pm-a takes it inside a transaction still open while pm-b asks: pm-b waits for it, then finds it taken.
      await a.query('BEGIN');
      expect((await claim(a, 'pm-a', { endpoints: [{ id: 'e1', want: 0 }] })).owned).toEqual({ e1: 'owned' });
      const second = claim(b, 'pm-b', { endpoints: [{ id: 'e1', want: 0 }] });
      await new Promise((r) => setTimeout(r, 200));
      await a.query('COMMIT');
      expect((await second).owned).toEqual({ e1: 'not owned' });
      expect((await pool.query(`SELECT owner FROM webhook_endpoint_owners WHERE endpoint_id = 'e1'`)).rows).toEqual([{ owner: 'pm-a' }]);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });

  test('reads due rows in order, as many as wanted, none held by the caller; the rate bucket limits a rate-limited endpoint', async () => {
    const due = await enqueue('e1', 10);
    const later = await enqueue('e1', 2, 60_000);
    const first = await claim(pool, 'pm-1', { endpoints: [{ id: 'e1', want: 4 }] });
    expect(first.rows.map((r) => r.delivery_id)).toEqual(due.slice(0, 4));
    const held = first.rows.map((r) => r.delivery_id!);
    const second = await claim(pool, 'pm-1', { endpoints: [{ id: 'e1', want: 4 }], exclude: held });
    expect(second.rows.map((r) => r.delivery_id)).toEqual(due.slice(4, 8));
    held.push(...second.rows.map((r) => r.delivery_id!));
    expect((await claim(pool, 'pm-1', { endpoints: [{ id: 'e1', want: 4 }], exclude: held })).rows.map((r) => r.delivery_id)).toEqual(due.slice(8));
    // Not due yet: only a sweep (any time) reads them.
    expect((await claim(pool, 'pm-1', { endpoints: [{ id: 'e1', want: 4, anyTime: true }], exclude: due })).rows.map((r) => r.delivery_id)).toEqual(later);

    // 0.1 request per second: a bucket of one, refilled in 10 s.
    await enqueue('slow', 5);
    // (e1 passed too, with nothing wanted: the fair share counts the endpoints a round asks for.)
    const slow = { endpoints: [{ id: 'e1', want: 0 }, { id: 'slow', want: 5, rate: 0.1 }] };
    const one = await claim(pool, 'pm-1', slow);
    expect(one.rows).toHaveLength(1);
    expect((await claim(pool, 'pm-1', { ...slow, exclude: [one.rows[0].delivery_id!] })).rows).toEqual([]);
    await pool.query(`UPDATE webhook_rate_buckets SET refilled_at = refilled_at - interval '10 seconds' WHERE endpoint_id = 'slow'`);
    expect((await claim(pool, 'pm-1', { ...slow, exclude: [one.rows[0].delivery_id!] })).rows).toHaveLength(1);
  });

  test('only the owner stores outcomes; a lease that ran out marks what its holder may have sent, a release does not', async () => {
    const [r1, r2, r3] = await enqueue('e1', 3);
    expect((await claim(pool, 'pm-1', { endpoints: [{ id: 'e1' }] })).rows).toHaveLength(3);
    // Another process's outcome for a row of an endpoint it does not own changes nothing.
    await claim(pool, 'pm-2', { done: [{ id: r1, status: 'succeeded' }] });
    expect(await row(r1)).toEqual({ status: 'pending', claims: 0 });
    // The owner's: a retry is stored on the row, a success deletes it (the event store has its record).
    const inAMinute = new Date(Date.now() + 60_000).toISOString();
    await claim(pool, 'pm-1', { done: [{ id: r1, status: 'pending', revision: 0, next: inAMinute }] });
    expect((await pool.query('SELECT status, revision, next_attempt_at FROM webhook_queue WHERE delivery_id = $1', [r1])).rows).toEqual([{ status: 'pending', revision: '0', next_attempt_at: new Date(inAMinute) }]);
    // An outcome older than what the row holds (revision 0) does not delete it …
    await claim(pool, 'pm-1', { done: [{ id: r1, status: 'succeeded', revision: -1 }] });
    expect(await row(r1)).toEqual({ status: 'pending', claims: 0 });
    await claim(pool, 'pm-1', { done: [{ id: r1, status: 'succeeded', revision: 1 }] });
    expect(await row(r1)).toBeUndefined();

    // pm-1 dies holding r2 and r3: once its lease has run out, pm-2 takes e1, and both rows are marked.
    await gone('pm-1');
    expect((await claim(pool, 'pm-2', { endpoints: [{ id: 'e1' }] })).owned).toEqual({ e1: 'not owned' });
    await pool.query(`UPDATE webhook_endpoint_owners SET until = now() - interval '1 second' WHERE endpoint_id = 'e1'`);
    const taken = await claim(pool, 'pm-2', { endpoints: [{ id: 'e1' }] });
    expect(taken.owned).toEqual({ e1: 'owned' });
    expect(taken.rows.map((r) => [r.delivery_id, r.claims])).toEqual([[r2, 1], [r3, 1]]);
    // pm-1's late outcome is not stored: the row is pm-2's now.
    await claim(pool, 'pm-1', { heartbeat: false, done: [{ id: r2, status: 'succeeded' }] });
    expect(await row(r2)).toEqual({ status: 'pending', claims: 1 });

    // A release hands over at once, marking nothing; nor does its own run-out lease taken up again.
    await claim(pool, 'pm-2', { release: ['e1'] });
    await gone('pm-2');
    expect((await claim(pool, 'pm-3', { endpoints: [{ id: 'e1' }] })).rows.map((r) => r.claims)).toEqual([1, 1]);
    await pool.query(`UPDATE webhook_endpoint_owners SET until = now() - interval '1 second' WHERE endpoint_id = 'e1'`);
    const again = await claim(pool, 'pm-3', { endpoints: [{ id: 'e1' }] });
    expect(again.owned).toEqual({ e1: 'owned' });
    expect(again.rows.map((r) => r.claims)).toEqual([1, 1]);
  });
});
