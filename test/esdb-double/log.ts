import { randomUUID } from 'node:crypto';

/**
 * The double's data: one transaction log holding every stream, kept in memory across server
 * restarts. Positions grow by each record's size as byte offsets do in EventStoreDB's log, so
 * they are increasing but not contiguous (commit = prepare, as for appends since 20.6).
 */
export interface LogRecord {
  streamId: string;
  revision: bigint;
  id: string;
  type: string;
  contentType: string;
  data: Uint8Array;
  customMetadata: Uint8Array;
  /** .NET ticks since the Unix epoch, as the server sends `created`. */
  created: bigint;
  position: bigint;
}

export type Expected = { kind: 'any' } | { kind: 'no_stream' } | { kind: 'stream_exists' } | { kind: 'revision'; revision: bigint };

export interface Proposed {
  id: string;
  type: string;
  contentType: string;
  data: Uint8Array;
  customMetadata: Uint8Array;
}

export type AppendOutcome =
  | { kind: 'success'; revision: bigint; position: bigint }
  | { kind: 'wrong_expected_version'; current: bigint | null }
  | { kind: 'stream_deleted' };

const NO_STREAM = -1n;
const TOMBSTONE_REVISION = 2n ** 63n - 1n;
const FIRST_POSITION = 1024n;

export class TransactionLog {
  readonly records: LogRecord[] = [];
  private readonly streams = new Map<string, LogRecord[]>();
  private readonly byId = new Map<string, LogRecord>();
  private readonly deleted = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private nextPosition = FIRST_POSITION;

  stream(streamId: string): readonly LogRecord[] | undefined {
    return this.streams.get(streamId);
  }

  isDeleted(streamId: string): boolean {
    return this.deleted.has(streamId);
  }

  /** Index of the first record at or after a position. */
  indexAtOrAfter(position: bigint): number {
    let low = 0;
    let high = this.records.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.records[mid].position < position) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Calls listener after every write until the returned function is called. */
  onWrite(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** EventStoreDB's commit check: expected revision, then idempotency by event id within the stream. */
  append(streamId: string, expected: Expected, events: Proposed[]): AppendOutcome {
    if (this.deleted.has(streamId)) return { kind: 'stream_deleted' };
    const stream = this.streams.get(streamId) ?? [];
    const current = stream.length ? BigInt(stream.length - 1) : NO_STREAM;
    let expectedRevision: bigint | 'any';
    if (expected.kind === 'stream_exists') {
      if (current === NO_STREAM) return { kind: 'wrong_expected_version', current: null };
      expectedRevision = 'any';
    } else if (expected.kind === 'any') expectedRevision = 'any';
    else if (expected.kind === 'no_stream') expectedRevision = NO_STREAM;
    else expectedRevision = expected.revision;

    if (expectedRevision === 'any') {
      const matched = events.map((e) => this.byId.get(e.id)).filter((r) => r?.streamId === streamId) as LogRecord[];
      if (matched.length === events.length && events.length > 0) return this.alreadyWritten(matched[matched.length - 1]);
      if (matched.length > 0 && this.byId.get(events[0].id)?.streamId === streamId) return { kind: 'wrong_expected_version', current: nullable(current) };
      return this.write(streamId, stream, events);
    }
    if (expectedRevision < current) {
      // A retry of an append that already happened: every id must sit where that append put it.
      const retried = events.map((e, i) => stream[Number(expectedRevision) + 1 + i]?.id === e.id);
      if (retried.every(Boolean) && events.length > 0) return this.alreadyWritten(stream[Number(expectedRevision) + events.length]);
      return { kind: 'wrong_expected_version', current: nullable(current) };
    }
    if (expectedRevision > current) return { kind: 'wrong_expected_version', current: nullable(current) };
    return this.write(streamId, stream, events);
  }

  /** What the server's tombstone does: the stream can never be written or read again. */
  tombstone(streamId: string): void {
    const empty = new Uint8Array();
    const tombstone = { id: randomUUID(), type: '$streamDeleted', contentType: 'application/octet-stream', data: empty, customMetadata: empty };
    this.records.push({ ...tombstone, streamId, revision: TOMBSTONE_REVISION, created: BigInt(Date.now()) * 10_000n, position: this.nextPosition });
    this.nextPosition += 128n;
    this.deleted.add(streamId);
    for (const listener of [...this.listeners]) listener();
  }

  private alreadyWritten(last: LogRecord): AppendOutcome {
    return { kind: 'success', revision: last.revision, position: last.position };
  }

  private write(streamId: string, stream: LogRecord[], events: Proposed[]): AppendOutcome {
    const created = BigInt(Date.now()) * 10_000n;
    for (const event of events) {
      const record: LogRecord = { ...event, streamId, revision: BigInt(stream.length), created, position: this.nextPosition };
      this.nextPosition += BigInt(80 + streamId.length + event.type.length + event.data.length + event.customMetadata.length);
      stream.push(record);
      this.records.push(record);
      this.byId.set(event.id, record);
    }
    this.streams.set(streamId, stream);
    for (const listener of [...this.listeners]) listener();
    const last = stream[stream.length - 1];
    return { kind: 'success', revision: last.revision, position: last.position };
  }
}

const nullable = (revision: bigint) => (revision === NO_STREAM ? null : revision);
