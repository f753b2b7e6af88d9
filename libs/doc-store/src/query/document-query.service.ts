import { ValidationError } from '@app/core';
import type { Pool } from '@app/database';
import { PG_POOL } from '@app/platform';
import { Inject, Injectable } from '@nestjs/common';
import { compileQuery, cursorKeyFits } from './query.compiler.js';
import type { DocumentQuery, DocumentView, QueryPage } from './query.types.js';

export interface DocumentRow {
  path: string;
  value: unknown;
  version: string;
  created_at: Date;
  updated_at: Date;
  updated_by: unknown;
}

export function documentView(row: DocumentRow): DocumentView {
  return {
    path: row.path,
    value: row.value,
    version: Number(row.version),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    updatedBy: row.updated_by,
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Defines rather than assigns, so a `__proto__` field stays data. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Only the requested value fields, at their nesting (a field that includes another wins). */
function pick(value: unknown, fields: string[][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  fields: for (const path of fields) {
    let found: unknown = value;
    for (const key of path) found = isObject(found) && Object.hasOwn(found, key) ? found[key] : undefined;
    if (found === undefined) continue;
    let target = out;
    for (const key of path.slice(0, -1)) {
      if (!Object.hasOwn(target, key)) setOwn(target, key, {});
      const next = target[key];
      if (!isObject(next)) continue fields;
      target = next;
    }
    const last = path[path.length - 1];
    if (!Object.hasOwn(target, last)) setOwn(target, last, found);
  }
  return out;
}

function encodeCursor(shape: string, sortKey: string): string {
  return Buffer.from(JSON.stringify({ s: shape, k: sortKey })).toString('base64url');
}

function decodeCursor(query: DocumentQuery): string | null {
  if (!query.cursor) return null;
  try {
    const { s, k } = JSON.parse(Buffer.from(query.cursor, 'base64url').toString('utf8')) as { s?: unknown; k?: unknown };
    if (s === query.shape && typeof k === 'string' && cursorKeyFits(query.sort, JSON.parse(k))) return k;
  } catch {
    // fall through
  }
  throw new ValidationError('invalid query: cursor: not a cursor of this query (paths, filter and sort must stay the same between pages)', { at: 'cursor' }, 'INVALID_QUERY');
}

/**
 * Runs document queries on the doc-store read model. Exported for other features (e.g. a
 * `doc-store.export` task): parse with parseDocumentQuery, pass the caller's docs:read patterns.
 */
@Injectable()
export class DocumentQueryService {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** One page; `allowed`: the docs:read path patterns of the caller (null: every document). */
  async run(query: DocumentQuery, allowed: readonly string[] | null): Promise<QueryPage> {
    const compiled = compileQuery(query, allowed, decodeCursor(query));
    const [page, count] = await Promise.all([
      this.pool.query<DocumentRow & { sort_key: string }>(compiled.page),
      compiled.count ? this.pool.query<{ n: string }>(compiled.count) : null,
    ]);
    const rows = page.rows.slice(0, query.limit);
    const items = rows.map((row) => {
      const view = documentView(row);
      return query.fields ? { ...view, value: pick(view.value, query.fields) } : view;
    });
    const nextCursor = page.rows.length > query.limit ? encodeCursor(query.shape, rows[rows.length - 1].sort_key) : null;
    return count ? { items, nextCursor, total: Number(count.rows[0].n) } : { items, nextCursor };
  }

  /** Every matching document, page after page (keyset: documents written meanwhile do not shift pages). */
  async *pages(query: DocumentQuery, allowed: readonly string[] | null): AsyncGenerator<DocumentView[]> {
    let cursor = query.cursor;
    for (;;) {
      const page = await this.run({ ...query, cursor, count: false }, allowed);
      if (page.items.length) yield page.items;
      if (!page.nextCursor) return;
      cursor = page.nextCursor;
    }
  }
}
