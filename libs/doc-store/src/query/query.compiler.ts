import { ValidationError } from '@app/core';
import type { JsonValue } from '@app/event-store';
import { escapeLike, queryPatternsSql, scopePatternsSql } from './path-patterns.js';
import type { Condition, DocumentQuery, FieldRef, MetaField, SortKey } from './query.types.js';
import { SqlParams } from './sql-params.js';

const META_COLUMNS: Record<MetaField, { column: string; type: string }> = {
  path: { column: 'path', type: 'text' },
  collection: { column: 'collection', type: 'text' },
  version: { column: 'version', type: 'bigint' },
  createdAt: { column: 'created_at', type: 'timestamptz' },
  updatedAt: { column: 'updated_at', type: 'timestamptz' },
};

const isScalar = (v: JsonValue) => v === null || typeof v !== 'object';
/** `items.0.name` addresses an array element: containment (`@>`) cannot express that, `#>` can. */
const containmentWorks = (path: string[]) => !path.some((s) => /^\d+$/.test(s));

function nest(path: string[], value: JsonValue): string {
  return JSON.stringify(path.reduceRight<JsonValue>((inner, key) => ({ [key]: inner }), value));
}

const COMPARE: Record<'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte', string> = { eq: '=', ne: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' };

class ConditionCompiler {
  constructor(private readonly params: SqlParams) {}

  compile(c: Condition): string {
    switch (c.op) {
      case 'and':
      case 'or':
        if (c.children.length === 0) return 'TRUE';
        return `(${c.children.map((child) => this.compile(child)).join(c.op === 'and' ? ' AND ' : ' OR ')})`;
      case 'not':
        // Three-valued logic: a comparison with a missing field is NULL; NOT of it must be true.
        return `NOT COALESCE(${this.compile(c.child)}, false)`;
      default:
        return c.field.kind === 'meta' ? this.meta(c, c.field.name) : this.value(c, c.field.path);
    }
  }

  private meta(c: Exclude<Condition, { op: 'and' | 'or' | 'not' }>, name: MetaField): string {
    const { column, type } = META_COLUMNS[name];
    const p = (v: unknown) => `${this.params.add(v)}::${type}`;
    switch (c.op) {
      case 'in':
        return `${column} = ANY(${this.params.add(c.values)}::${type}[])`;
      case 'nin':
        return `${column} <> ALL(${this.params.add(c.values)}::${type}[])`;
      case 'prefix':
        return `${column} LIKE ${this.params.add(escapeLike(c.value as string) + '%')}`;
      case 'eq':
      case 'ne':
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte':
        return `${column} ${COMPARE[c.op]} ${p(c.value)}`;
      default:
        throw new ValidationError(`${c.op} does not apply to $${name}`, { at: `filter.$${name}` }, 'INVALID_QUERY');
    }
  }

  private value(c: Exclude<Condition, { op: 'and' | 'or' | 'not' }>, path: string[]): string {
    const at = () => `(value #> ${this.params.add(path)}::text[])`;
    const json = (v: JsonValue) => `${this.params.add(JSON.stringify(v))}::jsonb`;
    switch (c.op) {
      case 'eq':
        // Containment of a scalar at a path is equality there, and the GIN index answers it.
        if (isScalar(c.value) && containmentWorks(path)) return `value @> ${this.params.add(nest(path, c.value))}::jsonb`;
        return `${at()} = ${json(c.value)}`;
      case 'ne':
        return `${at()} IS DISTINCT FROM ${json(c.value)}`;
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte': {
        // jsonb orders across types (numbers above strings); compare only values of the operand's type.
        const e = at();
        return `(jsonb_typeof(${e}) = ${this.params.add(typeof c.value === 'number' ? 'number' : 'string')} AND ${e} ${COMPARE[c.op]} ${json(c.value)})`;
      }
      case 'in':
      case 'nin': {
        const byContainment: JsonValue[] = containmentWorks(path) ? c.values.filter(isScalar) : [];
        const exact = c.values.filter((v) => !byContainment.includes(v));
        const parts: string[] = [];
        if (byContainment.length) parts.push(`value @> ANY(${this.params.add(byContainment.map((v) => nest(path, v)))}::jsonb[])`);
        if (exact.length) parts.push(`${at()} = ANY(${this.params.add(exact.map((v) => JSON.stringify(v)))}::jsonb[])`);
        const any = parts.length === 0 ? 'FALSE' : parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`;
        return c.op === 'in' ? any : `NOT COALESCE(${any}, false)`;
      }
      case 'contains': {
        // Arrays contain elements (a scalar operand is one element), objects contain keys and values.
        const operand = c.value;
        const wrapped: JsonValue[] = Array.isArray(operand) ? [operand] : isScalar(operand) ? [[operand]] : [operand, [operand]];
        const parts = wrapped.map((w) => (containmentWorks(path) ? `value @> ${this.params.add(nest(path, w))}::jsonb` : `${at()} @> ${json(w)}`));
        return parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`;
      }
      case 'exists':
        return `${at()} IS ${c.value ? 'NOT NULL' : 'NULL'}`;
      case 'prefix':
        return `(jsonb_typeof(${at()}) = 'string' AND starts_with(value #>> ${this.params.add(path)}::text[], ${this.params.add(c.value)}))`;
    }
  }
}

interface SortExpression {
  sql: string;
  direction: 'ASC' | 'DESC';
  /** How a cursor element (from jsonb_build_array) is turned back into this expression's type. */
  fromCursor(cursorParam: string, index: number): string;
}

function sortExpressions(sort: SortKey[], params: SqlParams): SortExpression[] {
  const out: SortExpression[] = [];
  for (const key of sort) {
    const direction = key.direction === 'desc' ? 'DESC' : 'ASC';
    if (key.field.kind === 'value') {
      // Missing fields sort as JSON null (first ascending), so every key is comparable.
      out.push({ sql: `COALESCE(value #> ${params.add(key.field.path)}::text[], 'null'::jsonb)`, direction, fromCursor: (c, i) => `(${c}::jsonb -> ${i})` });
      continue;
    }
    const { column, type } = META_COLUMNS[key.field.name];
    out.push({ sql: column, direction, fromCursor: (c, i) => `(${c}::jsonb ->> ${i})::${type}` });
    // The path is unique: keys after it can never decide an order.
    if (key.field.name === 'path') return out;
  }
  // The path breaks ties, in the direction of the last key so that a single-direction sort stays one row comparison.
  const direction = out.length ? out[out.length - 1].direction : 'ASC';
  out.push({ sql: 'path', direction, fromCursor: (c, i) => `(${c}::jsonb ->> ${i})` });
  return out;
}

/** Rows strictly after the cursor row in the sort order. */
function afterCursor(keys: SortExpression[], cursorParam: string): string {
  const bound = keys.map((k, i) => k.fromCursor(cursorParam, i));
  if (keys.every((k) => k.direction === keys[0].direction)) {
    return `(${keys.map((k) => k.sql).join(', ')}) ${keys[0].direction === 'ASC' ? '>' : '<'} (${bound.join(', ')})`;
  }
  // Mixed directions: (a > x) OR (a = x AND ((b < y) OR (b = y AND …))).
  let sql = '';
  for (let i = keys.length - 1; i >= 0; i--) {
    const strict = `${keys[i].sql} ${keys[i].direction === 'ASC' ? '>' : '<'} ${bound[i]}`;
    sql = sql ? `(${strict} OR (${keys[i].sql} = ${bound[i]} AND ${sql}))` : strict;
  }
  return sql;
}

export interface CompiledQuery {
  page: { text: string; values: unknown[] };
  count: { text: string; values: unknown[] } | null;
}

const COLUMNS = 'path, value, version, created_at, updated_at, updated_by';

/**
 * The query as parameterised SQL on doc_documents: path patterns ∧ scope patterns ∧ filter, keyset
 * pagination on the sort keys + path (`cursor` is the JSON array of the previous page's last sort key).
 */
export function compileQuery(query: DocumentQuery, allowed: readonly string[] | null, cursorKey: string | null): CompiledQuery {
  const params = new SqlParams();
  const where = [queryPatternsSql(query.paths, params), scopePatternsSql(allowed, params)];
  if (query.filter) where.push(new ConditionCompiler(params).compile(query.filter));
  const conditions = where.filter((w) => w !== 'TRUE');
  const countWhere = conditions.length ? conditions.join(' AND ') : 'TRUE';
  const countValues = [...params.values];

  const keys = sortExpressions(query.sort, params);
  if (cursorKey !== null) conditions.push(afterCursor(keys, params.add(cursorKey)));
  // The cursor key is built outside the sorted page, so only for the rows returned, not for every row sorted.
  const page =
    `SELECT ${COLUMNS}, ${keys.map((k, i) => `${k.sql} AS k${i}`).join(', ')} FROM doc_documents` +
    (conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '') +
    ` ORDER BY ${keys.map((k) => `${k.sql} ${k.direction}`).join(', ')} LIMIT ${params.add(query.limit + 1)}`;
  const text =
    `SELECT ${COLUMNS}, jsonb_build_array(${keys.map((_, i) => `k${i}`).join(', ')})::text AS sort_key FROM (${page}) page` +
    ` ORDER BY ${keys.map((k, i) => `k${i} ${k.direction}`).join(', ')}`;
  return {
    page: { text, values: params.values },
    count: query.count ? { text: `SELECT count(*)::bigint AS n FROM doc_documents WHERE ${countWhere}`, values: countValues } : null,
  };
}

/** Sort keys of a cursor must have the types the sort gives them (a forged cursor is a 400, not a SQL error). */
export function cursorKeyFits(sort: SortKey[], key: unknown): boolean {
  if (!Array.isArray(key)) return false;
  const expected: Array<'json' | 'text' | 'number' | 'time'> = [];
  for (const s of sort) {
    if (s.field.kind === 'value') expected.push('json');
    else if (s.field.name === 'version') expected.push('number');
    else if (s.field.name === 'createdAt' || s.field.name === 'updatedAt') expected.push('time');
    else expected.push('text');
    if (s.field.kind === 'meta' && s.field.name === 'path') break;
  }
  if (!sort.some((s) => s.field.kind === 'meta' && s.field.name === 'path')) expected.push('text');
  if (key.length !== expected.length) return false;
  return expected.every((t, i) => {
    const v: unknown = key[i];
    if (t === 'text') return typeof v === 'string';
    if (t === 'number') return Number.isSafeInteger(v);
    if (t === 'time') return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}(:\d{2})?)$/.test(v) && !Number.isNaN(Date.parse(v));
    return true;
  });
}
