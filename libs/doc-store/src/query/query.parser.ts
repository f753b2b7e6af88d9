import { ValidationError } from '@app/core';
import type { JsonValue } from '@app/event-store';
import { createHash } from 'node:crypto';
import { type Comparison, type Condition, type DocumentQuery, type FieldRef, META_FIELDS, type MetaField, type SortKey } from './query.types.js';

export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 50;
const MAX_PATTERNS = 20;
const MAX_CONDITIONS = 200;
const MAX_DEPTH = 10;
const MAX_IN = 1000;
const MAX_SORT = 8;
const MAX_FIELDS = 50;
const FIELD_SEGMENT = /^[^$.][^.]{0,127}$/;
const PATTERN_SEGMENT = /^(\*\*|[A-Za-z0-9._*-]{1,128})$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;

const COMPARISONS: Record<string, Comparison | 'in' | 'nin' | 'exists' | 'not'> = {
  $eq: 'eq',
  $ne: 'ne',
  $gt: 'gt',
  $gte: 'gte',
  $lt: 'lt',
  $lte: 'lte',
  $in: 'in',
  $nin: 'nin',
  $contains: 'contains',
  $exists: 'exists',
  $prefix: 'prefix',
  $not: 'not',
};

function invalid(at: string, message: string): never {
  throw new ValidationError(`invalid query: ${at}: ${message}`, { at }, 'INVALID_QUERY');
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A dotted value field (`build.number`) or a `$meta` field. */
export function parseField(text: unknown, at: string, allowMeta = true): FieldRef {
  if (typeof text !== 'string' || text.length === 0) invalid(at, 'a field must be a non-empty string');
  if (text.startsWith('$')) {
    const name = text.slice(1) as MetaField;
    if (allowMeta && META_FIELDS.includes(name)) return { kind: 'meta', name };
    invalid(at, `unknown field ${text}; metadata fields are ${META_FIELDS.map((m) => `$${m}`).join(', ')}`);
  }
  const path = text.split('.');
  if (path.length > 16 || !path.every((s) => FIELD_SEGMENT.test(s))) {
    invalid(at, `invalid field ${JSON.stringify(text)}: dot-separated names of 1-128 characters, not starting with $, at most 16 levels`);
  }
  return { kind: 'value', path };
}

/** `*` matches within one segment, `**` (a whole segment) any number of segments, also none. */
export function parsePattern(pattern: unknown, at: string): string {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > 512) invalid(at, 'a path pattern is a non-empty string of at most 512 characters');
  const segments = pattern.split('/');
  if (!segments.every((s) => PATTERN_SEGMENT.test(s) && (s === '**' || !s.includes('**')))) {
    invalid(at, `invalid path pattern ${JSON.stringify(pattern)}: segments of letters, digits, . _ - and * wildcards separated by single slashes; ** only as a whole segment`);
  }
  return pattern;
}

class FilterParser {
  private conditions = 0;

  parse(filter: unknown, at: string, depth: number): Condition {
    if (!isPlainObject(filter)) invalid(at, 'a filter is a JSON object');
    if (depth > MAX_DEPTH) invalid(at, `filters nest at most ${MAX_DEPTH} levels`);
    const parts: Condition[] = [];
    for (const [key, operand] of Object.entries(filter)) {
      const here = `${at}.${key}`;
      if (key === '$and' || key === '$or') {
        if (!Array.isArray(operand) || operand.length === 0 || operand.length > 100) invalid(here, `${key} takes a non-empty array of at most 100 filters`);
        parts.push({ op: key === '$and' ? 'and' : 'or', children: operand.map((f, i) => this.parse(f, `${here}[${i}]`, depth + 1)) });
      } else if (key === '$not') {
        parts.push({ op: 'not', child: this.parse(operand, here, depth + 1) });
      } else {
        parts.push(this.fieldConditions(parseField(key, here), operand, here, depth));
      }
    }
    if (parts.length === 0) return { op: 'and', children: [] };
    return parts.length === 1 ? parts[0] : { op: 'and', children: parts };
  }

  /** `{"a": 1}`, `{"a": {"$gt": 1, "$lt": 5}}`, `{"a": {"$not": {"$gt": 1}}}`. */
  private fieldConditions(field: FieldRef, operand: unknown, at: string, depth: number): Condition {
    const keys = isPlainObject(operand) ? Object.keys(operand) : [];
    const operators = keys.filter((k) => k.startsWith('$'));
    if (operators.length === 0) return this.leaf('eq', field, operand, at);
    if (operators.length !== keys.length) invalid(at, 'mixes operators ($…) and field names; put the object under $eq to match it exactly');
    const parts = Object.entries(operand as Record<string, unknown>).map(([op, value]): Condition => {
      const here = `${at}.${op}`;
      const kind = COMPARISONS[op];
      if (!kind) invalid(here, `unknown operator ${op}; operators are ${Object.keys(COMPARISONS).join(' ')}`);
      if (kind === 'not') {
        if (!isPlainObject(value) || !Object.keys(value).length || !Object.keys(value).every((k) => k.startsWith('$'))) {
          invalid(here, '$not on a field takes an object of operators, e.g. {"$not": {"$gt": 5}}');
        }
        if (depth + 1 > MAX_DEPTH) invalid(here, `filters nest at most ${MAX_DEPTH} levels`);
        return { op: 'not', child: this.fieldConditions(field, value, here, depth + 1) };
      }
      return this.leaf(kind, field, value, here);
    });
    return parts.length === 1 ? parts[0] : { op: 'and', children: parts };
  }

  private leaf(op: Comparison | 'in' | 'nin' | 'exists', field: FieldRef, operand: unknown, at: string): Condition {
    if (++this.conditions > MAX_CONDITIONS) invalid(at, `a filter has at most ${MAX_CONDITIONS} conditions`);
    if (op === 'exists') {
      if (typeof operand !== 'boolean') invalid(at, '$exists takes true or false');
      if (field.kind === 'meta') invalid(at, '$exists applies to value fields; metadata fields always exist');
      return { op, field, value: operand };
    }
    if (op === 'in' || op === 'nin') {
      if (!Array.isArray(operand) || operand.length > MAX_IN) invalid(at, `$${op} takes an array of at most ${MAX_IN} values`);
      return { op, field, values: operand.map((v, i) => this.operand('eq', field, v, `${at}[${i}]`)) };
    }
    return { op, field, value: this.operand(op, field, operand, at) };
  }

  private operand(op: Comparison, field: FieldRef, value: unknown, at: string): JsonValue {
    if (value === undefined) invalid(at, 'needs a value');
    if (field.kind === 'meta') return metaOperand(op, field.name, value, at);
    const ordered = op === 'gt' || op === 'gte' || op === 'lt' || op === 'lte';
    if (ordered && typeof value !== 'number' && typeof value !== 'string') invalid(at, `$${op} compares with a number or a string`);
    if (op === 'prefix' && typeof value !== 'string') invalid(at, '$prefix takes a string');
    if (op === 'contains' && value === null) invalid(at, '$contains takes a value, an array of values or an object, not null');
    return value as JsonValue;
  }
}

function metaOperand(op: Comparison, name: MetaField, value: unknown, at: string): JsonValue {
  if (op === 'contains') invalid(at, `$contains applies to value fields, not $${name}`);
  if (op === 'prefix' && name !== 'path' && name !== 'collection') invalid(at, '$prefix applies to $path, $collection and string value fields');
  switch (name) {
    case 'path':
    case 'collection':
      if (typeof value !== 'string') invalid(at, `$${name} is compared with a string`);
      return value;
    case 'version':
      if (!Number.isSafeInteger(value)) invalid(at, '$version is compared with an integer');
      return value as number;
    default:
      if (typeof value !== 'string' || !ISO_TIME.test(value) || Number.isNaN(Date.parse(value))) {
        invalid(at, `$${name} is compared with an ISO 8601 time such as 2026-12-01T10:00:00Z`);
      }
      return value;
  }
}

function parseSort(sort: unknown): SortKey[] {
  if (sort === undefined) return [];
  if (!Array.isArray(sort) || sort.length > MAX_SORT) invalid('sort', `an array of at most ${MAX_SORT} {field, direction} entries`);
  const seen = new Set<string>();
  return sort.map((entry, i) => {
    const at = `sort[${i}]`;
    if (!isPlainObject(entry)) invalid(at, 'each sort entry is {field, direction}');
    const extra = Object.keys(entry).find((k) => k !== 'field' && k !== 'direction');
    if (extra) invalid(`${at}.${extra}`, 'unknown property; a sort entry has field and direction');
    const field = parseField(entry.field, `${at}.field`);
    const direction = entry.direction ?? 'asc';
    if (direction !== 'asc' && direction !== 'desc') invalid(`${at}.direction`, 'asc or desc');
    const id = field.kind === 'meta' ? `$${field.name}` : field.path.join('.');
    if (seen.has(id)) invalid(`${at}.field`, `${id} is sorted on twice`);
    seen.add(id);
    return { field, direction };
  });
}

const QUERY_KEYS = ['paths', 'filter', 'sort', 'limit', 'cursor', 'fields', 'count'];

/** Validates a query body; a 400 INVALID_QUERY names the bad part in `at` and in the detail. */
export function parseDocumentQuery(input: unknown): DocumentQuery {
  if (!isPlainObject(input)) invalid('body', 'a query is a JSON object');
  const extra = Object.keys(input).find((k) => !QUERY_KEYS.includes(k));
  if (extra) invalid(extra, `unknown property; a query has ${QUERY_KEYS.join(', ')}`);

  const paths = input.paths ?? ['**'];
  if (!Array.isArray(paths) || paths.length === 0 || paths.length > MAX_PATTERNS) invalid('paths', `an array of 1 to ${MAX_PATTERNS} path patterns`);
  const patterns = paths.map((p, i) => parsePattern(p, `paths[${i}]`));

  const filter = input.filter === undefined ? null : new FilterParser().parse(input.filter, 'filter', 0);
  const sort = parseSort(input.sort);

  const limit = input.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_LIMIT) invalid('limit', `an integer from 1 to ${MAX_LIMIT}`);
  if (input.cursor !== undefined && (typeof input.cursor !== 'string' || input.cursor.length > 8192)) invalid('cursor', 'a cursor is the string nextCursor of the previous page');
  if (input.count !== undefined && typeof input.count !== 'boolean') invalid('count', 'true or false');

  let fields: string[][] | null = null;
  if (input.fields !== undefined) {
    if (!Array.isArray(input.fields) || input.fields.length === 0 || input.fields.length > MAX_FIELDS) invalid('fields', `an array of 1 to ${MAX_FIELDS} value fields`);
    fields = input.fields.map((f, i) => (parseField(f, `fields[${i}]`, false) as { path: string[] }).path);
  }

  const shape = createHash('sha256').update(JSON.stringify([patterns, input.filter ?? null, sort])).digest('base64url').slice(0, 16);
  return { paths: patterns, filter, sort, limit: limit as number, cursor: (input.cursor as string | undefined) || undefined, fields, count: input.count === true, shape };
}

/**
 * The GET form: `paths` (repeated or comma-separated), `filter` (JSON), `sort` (`-$updatedAt,build.number`:
 * a leading minus is descending), `limit`, `cursor`, `fields` (comma-separated), `count=true`.
 */
export function queryFromSearchParams(params: Record<string, unknown>): unknown {
  const one = (name: string): string | undefined => {
    const v = params[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') invalid(name, 'give this parameter once');
    return v;
  };
  const extra = Object.keys(params).find((k) => !QUERY_KEYS.includes(k));
  if (extra) invalid(extra, `unknown parameter; the GET form takes ${QUERY_KEYS.join(', ')}`);
  const list = (v: unknown) => (Array.isArray(v) ? v : v === undefined ? [] : [v]).flatMap((s) => String(s).split(',')).filter((s) => s.length > 0);
  const query: Record<string, unknown> = {};
  if (params.paths !== undefined) query.paths = list(params.paths);
  const filter = one('filter');
  if (filter !== undefined) {
    try {
      query.filter = JSON.parse(filter);
    } catch {
      invalid('filter', 'the filter parameter is JSON, e.g. {"status":"done"}');
    }
  }
  const sort = one('sort');
  if (sort !== undefined) query.sort = list(sort).map((s) => (s.startsWith('-') ? { field: s.slice(1), direction: 'desc' } : { field: s, direction: 'asc' }));
  const limit = one('limit');
  if (limit !== undefined) {
    if (!/^\d{1,6}$/.test(limit)) invalid('limit', `an integer from 1 to ${MAX_LIMIT}`);
    query.limit = Number(limit);
  }
  const cursor = one('cursor');
  if (cursor !== undefined) query.cursor = cursor;
  const fields = one('fields');
  if (fields !== undefined) query.fields = list(fields);
  const count = one('count');
  if (count !== undefined) {
    if (count !== 'true' && count !== 'false') invalid('count', 'true or false');
    query.count = count === 'true';
  }
  return query;
}
