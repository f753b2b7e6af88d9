import type { JsonValue } from '@app/event-store';

/** Document metadata usable in filters and sorts as `$path`, `$collection`, `$version`, `$createdAt`, `$updatedAt`. */
export type MetaField = 'path' | 'collection' | 'version' | 'createdAt' | 'updatedAt';
export const META_FIELDS: readonly MetaField[] = ['path', 'collection', 'version', 'createdAt', 'updatedAt'];

export type FieldRef = { kind: 'value'; path: string[] } | { kind: 'meta'; name: MetaField };

export type Comparison = 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'contains' | 'prefix';

export type Condition =
  | { op: 'and' | 'or'; children: Condition[] }
  | { op: 'not'; child: Condition }
  | { op: Comparison; field: FieldRef; value: JsonValue }
  | { op: 'in' | 'nin'; field: FieldRef; values: JsonValue[] }
  | { op: 'exists'; field: FieldRef; value: boolean };

export interface SortKey {
  field: FieldRef;
  direction: 'asc' | 'desc';
}

/** A validated query, ready to be compiled to SQL. */
export interface DocumentQuery {
  /** Path patterns (`releases/*`, `releases/**`), any of which a document must match. */
  paths: string[];
  filter: Condition | null;
  sort: SortKey[];
  limit: number;
  cursor?: string;
  /** Value fields to return (dotted paths split); null: the whole value. */
  fields: string[][] | null;
  count: boolean;
  /** Identifies paths + filter + sort, so a cursor is only accepted by the query that issued it. */
  shape: string;
}

export interface DocumentView {
  path: string;
  value: unknown;
  version: number;
  createdAt: string;
  updatedAt: string;
  updatedBy: unknown;
}

export interface QueryPage {
  items: DocumentView[];
  nextCursor: string | null;
  total?: number;
}
