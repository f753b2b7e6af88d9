import type pg from 'pg';
import { EventStoreUnavailableError, IdempotencyConflictError, WrongExpectedVersionError } from '../errors.js';
import type { AppendResult, ExpectedRevision, NewEvent } from '../types.js';

interface Pending {
  streamId: string;
  events: readonly NewEvent[];
  expected: ExpectedRevision;
  /** The events as es_append takes them, serialized once. */
  json: string;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

interface AppendRow {
  status: string;
  revision: string;
  tx: string | null;
  pos: string | null;
}

/** Appends per transaction at most. */
const MAX_BATCH = 256;
/**
 * Characters of events per transaction, past which a group takes no more appends (one larger append still
 * goes alone): a few large documents do not turn into one statement of tens of megabytes that the small
 * appends queued with them would wait for.
 */
const MAX_GROUP_CHARS = 1024 * 1024;
/** Transactions open at once; appends asked meanwhile wait and go together in the next one (1, 2 and 4 measured alike). */
const MAX_IN_FLIGHT = 2;

export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return !code || /^(08|57P0|53)/.test(code) || code === 'ECONNREFUSED' || code === 'ECONNRESET';
}

function serialize(events: readonly NewEvent[]): string {
  return JSON.stringify(events.map((e) => ({ id: e.id, type: e.type, data: e.data ?? null, metadata: e.metadata })));
}

function expectedOf(expected: ExpectedRevision): string | null {
  return typeof expected === 'bigint' ? expected.toString() : null;
}

function modeOf(expected: ExpectedRevision): string {
  return typeof expected === 'bigint' ? 'exact' : expected;
}

/**
 * Appends to the postgres event store, committed in groups: appends asked in the same tick, or while
 * two transactions are being written, share the next transaction (one commit, one wake-up of the
 * subscribers) instead of paying a commit each. An append asked alone goes out at once, as one call of
 * es_append. A group is one call of es_append_many, which locks every stream of the group before it writes
 * any, so all expected-revision modes keep their meaning and $all their order. Each append gets the answer
 * it would get on its own: a wrong expected revision or an id used elsewhere fails that append only, and if
 * the group's transaction fails as a whole (an error raised inside it), its appends are written again one
 * by one so that only the one at fault fails. Every promise settles after its transaction's commit.
 */
export class GroupCommit {
  private readonly queue: Pending[] = [];
  private inFlight = 0;

  constructor(
    private readonly pool: pg.Pool,
    /** After a commit that wrote events (not on duplicates): the types written. */
    private readonly onWritten: (types: Set<string>) => void,
  ) {}

  append(streamId: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) return Promise.reject(new Error('appendToStream needs at least one event'));
    let json: string;
    try {
      json = serialize(events);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ streamId, events, expected, json, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    while (this.queue.length && this.inFlight < MAX_IN_FLIGHT) {
      let count = 0;
      let chars = 0;
      while (count < this.queue.length && count < MAX_BATCH && (count === 0 || chars + this.queue[count].json.length <= MAX_GROUP_CHARS)) {
        chars += this.queue[count].json.length;
        count++;
      }
      const batch = this.queue.splice(0, count);
      this.inFlight++;
      void this.write(batch).finally(() => {
        this.inFlight--;
        this.flush();
      });
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    if (batch.length === 1) return this.writeOne(batch[0]);
    let rows: (AppendRow & { ord: number })[];
    try {
      ({ rows } = await this.pool.query({
        name: 'opsledger_es_append_many',
        text: 'SELECT ord, status, revision, tx, pos FROM es_append_many($1::jsonb)',
        // The events go in as serialized by append(), not serialized again.
        values: [`[${batch.map((p) => `{"stream":${JSON.stringify(p.streamId)},"mode":${JSON.stringify(modeOf(p.expected))},"expected":${JSON.stringify(expectedOf(p.expected))},"events":${p.json}}`).join(',')}]`],
      }));
    } catch (error) {
      if (isConnectionError(error)) {
        const unavailable = new EventStoreUnavailableError('postgres event store unavailable', error);
        for (const p of batch) p.reject(unavailable);
        return;
      }
      // Nothing of the group was written: each append on its own, so that only the one at fault fails.
      for (const p of batch) await this.writeOne(p);
      return;
    }
    const written = new Set<string>();
    for (const row of rows) this.settle(batch[row.ord - 1], row, written);
    if (written.size) this.onWritten(written);
  }

  private async writeOne(p: Pending): Promise<void> {
    let row: AppendRow;
    try {
      // A named statement: each connection parses and plans it once instead of on every append.
      const result = await this.pool.query<AppendRow>({
        name: 'opsledger_es_append',
        text: 'SELECT status, revision, tx, pos FROM es_append($1, $2, $3, $4::jsonb)',
        values: [p.streamId, modeOf(p.expected), expectedOf(p.expected), p.json],
      });
      row = result.rows[0];
    } catch (error) {
      if ((error as { code?: string }).code === '23505') {
        // The event id exists in another stream (unique violation inside the insert).
        p.reject(new IdempotencyConflictError(p.streamId, p.events[0].id));
      } else if (isConnectionError(error)) {
        p.reject(new EventStoreUnavailableError('postgres event store unavailable', error));
      } else {
        p.reject(error);
      }
      return;
    }
    const written = new Set<string>();
    this.settle(p, row, written);
    if (written.size) this.onWritten(written);
  }

  private settle(p: Pending, row: AppendRow, written: Set<string>): void {
    if (row.status === 'ok' || row.status === 'duplicate') {
      if (row.status === 'ok') for (const e of p.events) written.add(e.type);
      p.resolve({ nextExpectedRevision: BigInt(row.revision), position: { commit: BigInt(row.tx!), prepare: BigInt(row.pos!) } });
    } else if (row.status === 'wrong_expected') {
      const actual = BigInt(row.revision);
      p.reject(new WrongExpectedVersionError(p.streamId, p.expected, actual < 0n ? 'no_stream' : actual));
    } else {
      p.reject(new IdempotencyConflictError(p.streamId, p.events[0].id));
    }
  }
}
