import type pg from 'pg';
import { IdempotencyConflictError, WrongExpectedVersionError } from '../errors.js';
import type { AppendResult, EventStore, NewEvent } from '../types.js';
import { PostgresEventStore } from './postgres-event-store.js';

interface Pending {
  streamId: string;
  events: readonly NewEvent[];
  expected: bigint | 'no_stream';
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

const MAX_BATCH = 256;
const MAX_IN_FLIGHT = 2;

/** Appends to one stream with an exact expected revision (or none yet). */
export interface StreamAppender {
  append(streamId: string, events: readonly NewEvent[], expected: bigint | 'no_stream'): Promise<AppendResult>;
}

/**
 * Appends of many streams, coalesced: whatever is asked while a batch is being written goes into the
 * next one, so under load one transaction (one commit, one wake-up of every subscriber) carries many
 * appends (task claims and completions, webhook delivery records), and alone an append still goes out at
 * once. Same answers as appendToStream. With the postgres event store the batch is one call of
 * es_append_many (es_append per stream, in one transaction); with another store each append goes on its own.
 * The pool decides the commit mode (a pool with synchronous_commit off gives asynchronous batches).
 */
export class AppendBatcher implements StreamAppender {
  private readonly queue: Pending[] = [];
  private inFlight = 0;

  private readonly postgres: PostgresEventStore | null;

  constructor(
    private readonly store: EventStore,
    private readonly pool: pg.Pool,
  ) {
    this.postgres = store instanceof PostgresEventStore ? store : null;
  }

  append(streamId: string, events: readonly NewEvent[], expected: bigint | 'no_stream'): Promise<AppendResult> {
    if (!this.postgres) return this.store.appendToStream(streamId, events, { expectedRevision: expected });
    return new Promise((resolve, reject) => {
      this.queue.push({ streamId, events, expected, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    while (this.queue.length && this.inFlight < MAX_IN_FLIGHT) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.inFlight++;
      void this.write(batch).finally(() => {
        this.inFlight--;
        this.flush();
      });
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    const payload = batch.map((p) => ({
      stream: p.streamId,
      mode: p.expected === 'no_stream' ? 'no_stream' : 'exact',
      expected: p.expected === 'no_stream' ? null : p.expected.toString(),
      events: p.events.map((e) => ({ id: e.id, type: e.type, data: e.data ?? null, metadata: e.metadata })),
    }));
    let rows: { ord: number; status: string; revision: string; tx: string | null; pos: string | null }[];
    try {
      ({ rows } = await this.pool.query({ name: 'opsledger_es_append_many', text: 'SELECT ord, status, revision, tx, pos FROM es_append_many($1::jsonb)', values: [JSON.stringify(payload)] }));
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    const wrote = new Set<string>();
    for (const row of rows) {
      const p = batch[row.ord - 1];
      if (row.status === 'ok' || row.status === 'duplicate') {
        if (row.status === 'ok') for (const e of p.events) wrote.add(e.type);
        p.resolve({ nextExpectedRevision: BigInt(row.revision), position: { commit: BigInt(row.tx!), prepare: BigInt(row.pos!) } });
      } else if (row.status === 'wrong_expected') {
        const actual = BigInt(row.revision);
        p.reject(new WrongExpectedVersionError(p.streamId, p.expected, actual < 0n ? 'no_stream' : actual));
      } else {
        p.reject(new IdempotencyConflictError(p.streamId, p.events[0].id));
      }
    }
    // After the commit, never inside it: the store's notifier wakes local subscribers at once and NOTIFYs the rest.
    if (wrote.size) this.postgres?.published(wrote);
  }
}
