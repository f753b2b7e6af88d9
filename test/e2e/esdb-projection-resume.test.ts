import { comparePositions, type RecordedEvent } from '@app/event-store';
import { KEY_VALUE_EVENT_TYPES, type KeyValueEvent, kvStreamId } from '@app/key-value';
import type pg from 'pg';
import { startTestApi, type TestApi } from '../support/api.js';
import { allEvents, type RunningBackend, startEventStoreBackend } from '../support/event-store-backend.js';
import { connectDatabase, eventually, sleep } from '../support/problem.js';

// The api on the EventStoreDB adapter; the gRPC double is stopped and restarted (every connection
// dropped at once) while writers keep changing keys and the key-value projection follows $all live.

const WRITERS = 4;
const KEYS_PER_WRITER = 5;
const CUTS = 3;

let backend: RunningBackend;
let api: TestApi;
let db: pg.Client;

beforeAll(async () => {
  backend = await startEventStoreBackend('esdb');
  api = await startTestApi(backend.env);
  db = await connectDatabase(api.databaseUrl);
});
afterAll(async () => {
  await db?.end();
  await api?.close();
  await backend?.stop();
});

interface Row {
  key: string;
  value: unknown;
  version: number;
  tags: string[];
  expiresAt: string | null;
}

/** The read model as the events say it must be: each key's stream folded from its first event. */
function fold(streams: RecordedEvent[][]): Row[] {
  const rows = new Map<string, Row>();
  for (const stream of streams) {
    for (const recorded of stream) {
      const event = { type: recorded.type, data: recorded.data } as KeyValueEvent;
      if (event.type === 'KeyValueSet') {
        const { key, value, tags, expiresAt } = event.data;
        rows.set(key, { key, value, version: Number(recorded.revision) + 1, tags, expiresAt });
      } else rows.delete(event.data.key);
    }
  }
  return [...rows.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
}

async function keyValueCheckpoint() {
  const { rows } = await db.query<{ c: string; p: string; n: string }>(
    `SELECT position_commit AS c, position_prepare AS p, events_applied AS n FROM projection_checkpoints WHERE name = 'key-value'`,
  );
  return rows[0] && { position: { commit: BigInt(rows[0].c), prepare: BigInt(rows[0].p) }, eventsApplied: BigInt(rows[0].n) };
}

async function readModel(): Promise<Row[]> {
  const { rows } = await db.query<{ key: string; value: unknown; version: string; tags: string[]; expires_at: Date | null }>(
    'SELECT key, value, version, tags, expires_at FROM kv_entries ORDER BY key',
  );
  return rows.map((r) => ({ key: r.key, value: r.value, version: Number(r.version), tags: r.tags, expiresAt: r.expires_at?.toISOString() ?? null }));
}

test('the key-value projection resumes after connection cuts under its live subscription: nothing missed, nothing applied twice', async () => {
  const statuses = new Map<number, number>();
  const unavailableDuringCut: number[] = Array.from({ length: CUTS }, () => 0);
  let cut = -1;
  let stopping = false;

  // Each writer changes its own keys: sets with tags, deletes, sets again. Answers while the event store
  // is away are 503 (and retried); an append whose answer was lost may be stored and written again.
  const writer = async (w: number) => {
    for (let n = 0; !stopping; n++) {
      const key = `resume/w${w}-k${n % KEYS_PER_WRITER}`;
      const remove = n % 7 === 6;
      const res = remove
        ? await api.call('DELETE', `/api/key-value/${encodeURIComponent(key)}`)
        : await api.call('PUT', `/api/key-value/${encodeURIComponent(key)}`, { value: { w, n }, tags: [`w${w}`, `n${n % 3}`] });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 503) {
        if (backend.double!.running) continue; // the outage ended while this request was on its way
        unavailableDuringCut[cut]++;
        await sleep(50);
      } else expect([200, 204, 404]).toContain(res.status);
    }
  };

  // The projection is live before the first cut: a write returns once the read model shows it.
  expect((await api.call('PUT', '/api/key-value/resume%2Fstart', { value: 0 })).status).toBe(200);
  const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
  const successes = () => (statuses.get(200) ?? 0) + (statuses.get(204) ?? 0);
  try {
    for (cut = 0; cut < CUTS; cut++) {
      const before = successes();
      await eventually(async () => (successes() >= before + 20 ? true : undefined), 20_000, 'writes between cuts');
      await backend.double!.stop();
      await eventually(async () => (unavailableDuringCut[cut] > 0 ? true : undefined), 10_000, 'a write refused while the event store is away');
      await sleep(300);
      await backend.double!.restart();
    }
    const before = successes();
    await eventually(async () => (successes() >= before + 20 ? true : undefined), 20_000, 'writes after the last cut');
  } finally {
    stopping = true;
    await Promise.allSettled(writers);
    if (!backend.double!.running) await backend.double!.restart(); // a failed check must not leave the store away
  }
  await Promise.all(writers); // a writer's failed expectation fails the test

  const kvEvents = (await allEvents(api.store)).filter((e) => (KEY_VALUE_EVENT_TYPES as readonly string[]).includes(e.type));
  const last = kvEvents[kvEvents.length - 1];
  const checkpoint = await eventually(async () => {
    const row = await keyValueCheckpoint();
    return row && comparePositions(row.position, last.position) >= 0 ? row : undefined;
  }, 20_000, 'the projection to reach the last key-value event');

  const keys = [...new Set(kvEvents.map((e) => (e.data as { key: string }).key))];
  const streams = await Promise.all(keys.map((key) => api.store.readStream(kvStreamId(key))));
  expect(streams.flat()).toHaveLength(kvEvents.length);
  expect(await readModel()).toEqual(fold(streams));
  expect(checkpoint.eventsApplied).toBe(BigInt(kvEvents.length));
  expect(unavailableDuringCut.every((n) => n > 0)).toBe(true);
  expect(successes()).toBeGreaterThan(CUTS * 20);
});
