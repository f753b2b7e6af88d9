import { globToRegExp } from '@app/auth';
import { NotFoundError, ValidationError } from '@app/core';
import type { Pool } from '@app/database';
import { EVENT_STORE, type EventStore } from '@app/event-store';
import { PG_POOL } from '@app/platform';
import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { collectionOf, collectionStreamId, documentStreamId } from './doc-paths.js';
import type { DocumentEvent } from './document.decider.js';
import { replayCollection, replayDocument } from './document-replay.js';
import { type DocumentRow, documentView } from './query/document-query.service.js';
import { escapeLike } from './query/path-patterns.js';
import type { DocumentView } from './query/query.types.js';

export interface CollectionView {
  path: string;
  documentCount: number;
  createdAt: string;
  createdBy: unknown;
}

export interface HistoryItem {
  version: number;
  change: 'created' | 'replaced' | 'merge-patched' | 'deleted';
  value?: unknown;
  at: string;
  actor: unknown;
  correlationId: string;
}

/** The current document, a past version (`version`) or the document as it was at a time (`at`). */
export class GetDocumentQuery extends Query<DocumentView> {
  constructor(readonly path: string, readonly past: { version?: number; at?: Date } = {}) {
    super();
  }
}

export class DocumentHistoryQuery extends Query<{ path: string; items: HistoryItem[]; nextBefore: number | null }> {
  constructor(readonly path: string, readonly limit: number, readonly before?: number) {
    super();
  }
}

export class GetCollectionQuery extends Query<CollectionView> {
  constructor(readonly path: string) {
    super();
  }
}

export class ListCollectionsQuery extends Query<{ items: CollectionView[]; nextCursor: string | null }> {
  constructor(
    readonly filter: { prefix?: string; limit: number; cursor?: string },
    /** docs:read patterns of the caller (null: all): a collection is listed when they cover all its documents. */
    readonly allowed: readonly string[] | null,
  ) {
    super();
  }
}

const DOCUMENT_COLUMNS = 'path, value, version, created_at, updated_at, updated_by';

@QueryHandler(GetDocumentQuery)
export class GetDocumentHandler implements IQueryHandler<GetDocumentQuery> {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  async execute({ path, past }: GetDocumentQuery): Promise<DocumentView> {
    if (past.version !== undefined) return this.version(path, past.version);
    if (past.at !== undefined) return this.at(path, past.at);
    const { rows } = await this.pool.query<DocumentRow>({ name: 'doc-get', text: `SELECT ${DOCUMENT_COLUMNS} FROM doc_documents WHERE path = $1`, values: [path] });
    if (!rows[0]) throw new NotFoundError(`document ${path} not found`, 'DOCUMENT_NOT_FOUND');
    return documentView(rows[0]);
  }

  private async version(path: string, version: number): Promise<DocumentView> {
    const events = await this.store.readStream(documentStreamId(path), { fromRevision: 0n, maxCount: version });
    if (events.length < version) throw new NotFoundError(`document ${path} has no version ${version}`, 'VERSION_NOT_FOUND');
    const replayed = replayDocument(events);
    if (!replayed.view) throw new NotFoundError(`version ${version} of ${path} is its deletion`, 'VERSION_IS_DELETION', { version });
    return replayed.view;
  }

  /** Folds the document's stream up to the time, and its collection's: a document of a deleted collection was gone. */
  private async at(path: string, at: Date): Promise<DocumentView> {
    const upTo = <T extends { createdAt: Date }>(events: T[]) => events.filter((e) => e.createdAt.getTime() <= at.getTime());
    const [documentEvents, collectionEvents] = await Promise.all([
      this.store.readStream(documentStreamId(path)),
      this.store.readStream(collectionStreamId(collectionOf(path))),
    ]);
    const replayed = replayDocument(upTo(documentEvents));
    if (!replayed.view || replayed.generation !== replayCollection(upTo(collectionEvents))) {
      throw new NotFoundError(`document ${path} did not exist at ${at.toISOString()}`, 'DOCUMENT_NOT_FOUND');
    }
    return replayed.view;
  }
}

@QueryHandler(DocumentHistoryQuery)
export class DocumentHistoryHandler implements IQueryHandler<DocumentHistoryQuery> {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async execute({ path, limit, before }: DocumentHistoryQuery) {
    if (before !== undefined && before <= 1) return { path, items: [], nextBefore: null };
    const events = await this.store.readStream(documentStreamId(path), {
      direction: 'backwards',
      fromRevision: before === undefined ? 'end' : BigInt(before - 2),
      maxCount: limit,
    });
    if (events.length === 0 && before === undefined) throw new NotFoundError(`document ${path} has no history`, 'DOCUMENT_NOT_FOUND');
    const items = events.map((recorded): HistoryItem => {
      const event = { type: recorded.type, data: recorded.data } as DocumentEvent;
      const base = { version: Number(recorded.revision + 1n), at: recorded.createdAt.toISOString(), actor: recorded.metadata.actor, correlationId: recorded.metadata.correlationId };
      if (event.type === 'DocumentDeleted') return { ...base, change: 'deleted' };
      const change = event.type === 'DocumentCreated' ? 'created' : event.data.change === 'merge-patch' ? 'merge-patched' : 'replaced';
      return { ...base, change, value: event.data.value };
    });
    const oldest = items[items.length - 1];
    return { path, items, nextBefore: items.length === limit && oldest.version > 1 ? oldest.version : null };
  }
}

interface CollectionRow {
  path: string;
  document_count: string;
  created_at: Date;
  created_by: unknown;
}

const collectionView = (row: CollectionRow): CollectionView => ({
  path: row.path,
  documentCount: Number(row.document_count),
  createdAt: row.created_at.toISOString(),
  createdBy: row.created_by,
});

@QueryHandler(GetCollectionQuery)
export class GetCollectionHandler implements IQueryHandler<GetCollectionQuery> {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ path }: GetCollectionQuery) {
    const { rows } = await this.pool.query<CollectionRow>('SELECT path, document_count, created_at, created_by FROM doc_collections WHERE path = $1', [path]);
    if (!rows[0]) throw new NotFoundError(`collection ${path} not found`, 'COLLECTION_NOT_FOUND');
    return collectionView(rows[0]);
  }
}

const CURSOR = /^[A-Za-z0-9._\-/]{1,512}$/;

@QueryHandler(ListCollectionsQuery)
export class ListCollectionsHandler implements IQueryHandler<ListCollectionsQuery> {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ filter, allowed }: ListCollectionsQuery) {
    if (allowed && allowed.length === 0) return { items: [], nextCursor: null };
    const params: unknown[] = [];
    const where: string[] = [];
    if (filter.cursor !== undefined) {
      const after = Buffer.from(filter.cursor, 'base64url').toString('utf8');
      if (!CURSOR.test(after)) throw new ValidationError('cursor is not valid', { field: 'cursor' }, 'INVALID_CURSOR');
      where.push(`path > $${params.push(after)}`);
    }
    if (filter.prefix) where.push(`path LIKE $${params.push(escapeLike(filter.prefix) + '%')}`);
    // A \u0001 document id matches a scope pattern only where the pattern has a wildcard for the id.
    if (allowed) where.push(`(path || '/' || chr(1)) ~ ANY($${params.push(allowed.map((p) => globToRegExp(p).source))}::text[])`);
    const limit = params.push(filter.limit + 1);
    const { rows } = await this.pool.query<CollectionRow>(
      `SELECT path, document_count, created_at, created_by FROM doc_collections ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY path LIMIT $${limit}`,
      params,
    );
    const page = rows.slice(0, filter.limit);
    return { items: page.map(collectionView), nextCursor: rows.length > filter.limit ? Buffer.from(page[page.length - 1].path).toString('base64url') : null };
  }
}
