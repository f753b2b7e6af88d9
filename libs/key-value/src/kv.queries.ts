import { globToRegExp } from '@app/auth';
import { NotFoundError } from '@app/core';
import type { Pool } from '@app/database';
import { EVENT_STORE, type EventStore } from '@app/event-store';
import { decodeCursor, encodeCursor } from '@app/http';
import { PG_POOL } from '@app/platform';
import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { type KeyValueEvent, kvStreamId } from './kv.decider.js';
import type { EntryView } from './kv.dto.js';

interface EntryRow {
  key: string;
  value: unknown;
  version: string;
  tags: string[];
  expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'key, value, version, tags, expires_at, created_at, updated_at';
const LIVE = '(expires_at IS NULL OR expires_at > now())';

function view(row: EntryRow): EntryView {
  return {
    key: row.key,
    value: row.value,
    version: Number(row.version),
    tags: row.tags,
    expiresAt: row.expires_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export class GetEntryQuery extends Query<EntryView> {
  constructor(readonly key: string) {
    super();
  }
}

export class ListEntriesQuery extends Query<{ items: EntryView[]; nextCursor: string | null }> {
  constructor(
    readonly filter: { prefix?: string; tag?: string; limit: number; cursor?: string },
    /** Key patterns the caller may read; null: all. */
    readonly patterns: string[] | null,
  ) {
    super();
  }
}

export interface HistoryItem {
  version: number;
  change: 'set' | 'deleted' | 'expired';
  value?: unknown;
  tags?: string[];
  expiresAt?: string | null;
  at: string;
  actor: unknown;
  correlationId: string;
}

export class EntryHistoryQuery extends Query<{ key: string; items: HistoryItem[] }> {
  constructor(readonly key: string, readonly limit: number) {
    super();
  }
}

@QueryHandler(GetEntryQuery)
export class GetEntryHandler implements IQueryHandler<GetEntryQuery> {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ key }: GetEntryQuery): Promise<EntryView> {
    const { rows } = await this.pool.query<EntryRow>({ name: 'kv-get', text: `SELECT ${COLUMNS} FROM kv_entries WHERE key = $1 AND ${LIVE}`, values: [key] });
    if (!rows[0]) throw new NotFoundError(`key ${key} not found`, 'KEY_NOT_FOUND');
    return view(rows[0]);
  }
}

const isKey = (v: unknown): v is string => typeof v === 'string';

function likePrefix(prefix: string): string {
  return prefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';
}

@QueryHandler(ListEntriesQuery)
export class ListEntriesHandler implements IQueryHandler<ListEntriesQuery> {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ filter, patterns }: ListEntriesQuery) {
    if (patterns && patterns.length === 0) return { items: [], nextCursor: null };
    const after = decodeCursor(filter.cursor, isKey);
    const params: unknown[] = [];
    const where = [LIVE];
    if (after !== undefined) where.push(`key > $${params.push(after)}`);
    if (filter.prefix) where.push(`key LIKE $${params.push(likePrefix(filter.prefix))}`);
    if (filter.tag) where.push(`tags @> ARRAY[$${params.push(filter.tag)}]::text[]`);
    if (patterns) where.push(`key ~ ANY($${params.push(patterns.map((p) => globToRegExp(p).source))}::text[])`);
    const limit = params.push(filter.limit + 1);
    const { rows } = await this.pool.query<EntryRow>(`SELECT ${COLUMNS} FROM kv_entries WHERE ${where.join(' AND ')} ORDER BY key LIMIT $${limit}`, params);
    const page = rows.slice(0, filter.limit);
    return { items: page.map(view), nextCursor: rows.length > filter.limit ? encodeCursor(page[page.length - 1].key) : null };
  }
}

@QueryHandler(EntryHistoryQuery)
export class EntryHistoryHandler implements IQueryHandler<EntryHistoryQuery> {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async execute({ key, limit }: EntryHistoryQuery) {
    const events = await this.store.readStream(kvStreamId(key), { direction: 'backwards', fromRevision: 'end', maxCount: limit });
    if (events.length === 0) throw new NotFoundError(`key ${key} has no history`, 'KEY_NOT_FOUND');
    const items = events.map((recorded): HistoryItem => {
      const event = { type: recorded.type, data: recorded.data } as KeyValueEvent;
      const base = { version: Number(recorded.revision + 1n), at: recorded.createdAt.toISOString(), actor: recorded.metadata.actor, correlationId: recorded.metadata.correlationId };
      if (event.type === 'KeyValueSet') return { ...base, change: 'set', value: event.data.value, tags: event.data.tags, expiresAt: event.data.expiresAt };
      return { ...base, change: event.type === 'KeyValueDeleted' ? 'deleted' : 'expired' };
    });
    return { key, items };
  }
}
