import { globToRegExp } from '@app/auth';
import { ValidationError } from '@app/core';
import type { JsonValue } from '@app/event-store';
import { isDeepStrictEqual } from 'node:util';
import { FIELD_PATH, readPath } from './field-path.js';

type Comparison = 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'nin' | 'contains' | 'exists' | 'prefix' | 'glob';
export type DataCondition = { field: string; op: Comparison; value: JsonValue };
/** Conditions on an event's data: `{field, op, value}`, combined with `{and: []}`, `{or: []}`, `{not: {}}`. */
export type DataFilter = DataCondition | { and: DataFilter[] } | { or: DataFilter[] } | { not: DataFilter };

const OPS: readonly Comparison[] = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'contains', 'exists', 'prefix', 'glob'];
const MAX_NODES = 64;
const MAX_DEPTH = 6;

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function invalid(where: string, message: string): never {
  throw new ValidationError(`${where}: ${message}`, { field: where }, 'INVALID_FILTER');
}

/** Validates a filter from a request; the error names the offending node (`filter.and.1.op`). */
export function parseDataFilter(input: unknown, where = 'filter'): DataFilter {
  let nodes = 0;
  const walk = (node: unknown, at: string, depth: number): DataFilter => {
    if (++nodes > MAX_NODES) invalid(where, `at most ${MAX_NODES} conditions`);
    if (depth > MAX_DEPTH) invalid(at, `nested deeper than ${MAX_DEPTH}`);
    if (!isRecord(node)) invalid(at, 'must be an object: {field, op, value}, {and: [...]}, {or: [...]} or {not: {...}}');
    const keys = Object.keys(node);
    for (const group of ['and', 'or'] as const) {
      if (group in node) {
        if (keys.length !== 1) invalid(at, `${group} must be the only key`);
        const list = node[group];
        if (!Array.isArray(list) || list.length === 0) invalid(`${at}.${group}`, 'must be a non-empty array');
        return { [group]: list.map((child, i) => walk(child, `${at}.${group}.${i}`, depth + 1)) } as DataFilter;
      }
    }
    if ('not' in node) {
      if (keys.length !== 1) invalid(at, 'not must be the only key');
      return { not: walk(node.not, `${at}.not`, depth + 1) };
    }
    const extra = keys.filter((k) => !['field', 'op', 'value'].includes(k));
    if (extra.length) invalid(at, `unknown key ${extra[0]}`);
    const { field, op, value } = node;
    if (typeof field !== 'string' || !FIELD_PATH.test(field)) invalid(`${at}.field`, 'must be a dotted path into the event data, e.g. path or value.env');
    if (typeof op !== 'string' || !OPS.includes(op as Comparison)) invalid(`${at}.op`, `must be one of ${OPS.join(', ')}`);
    if (value === undefined) invalid(`${at}.value`, 'is required');
    if ((op === 'in' || op === 'nin') && !Array.isArray(value)) invalid(`${at}.value`, `must be an array for ${op}`);
    if (['gt', 'gte', 'lt', 'lte'].includes(op) && typeof value !== 'number' && typeof value !== 'string') invalid(`${at}.value`, `must be a number or a string for ${op}`);
    if (op === 'exists' && typeof value !== 'boolean') invalid(`${at}.value`, 'must be true or false for exists');
    if ((op === 'prefix' || op === 'glob') && (typeof value !== 'string' || value.length > 512)) invalid(`${at}.value`, `must be a string for ${op}`);
    return { field, op: op as Comparison, value: value as JsonValue };
  };
  const filter = walk(input, where, 1);
  if (JSON.stringify(filter).length > 8192) invalid(where, 'is larger than 8 KiB');
  return filter;
}

function compare(a: unknown, b: JsonValue): number | null {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return null;
}

function test(condition: DataCondition, data: unknown): boolean {
  const actual = readPath(data, condition.field);
  const { op, value } = condition;
  switch (op) {
    case 'eq':
      return isDeepStrictEqual(actual, value);
    case 'ne':
      return !isDeepStrictEqual(actual, value);
    case 'in':
      return (value as JsonValue[]).some((v) => isDeepStrictEqual(actual, v));
    case 'nin':
      return !(value as JsonValue[]).some((v) => isDeepStrictEqual(actual, v));
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const c = compare(actual, value);
      if (c === null) return false;
      return op === 'gt' ? c > 0 : op === 'gte' ? c >= 0 : op === 'lt' ? c < 0 : c <= 0;
    }
    case 'contains':
      if (typeof actual === 'string') return typeof value === 'string' && actual.includes(value);
      return Array.isArray(actual) && actual.some((v) => isDeepStrictEqual(v, value));
    case 'exists':
      return (actual !== undefined) === value;
    case 'prefix':
      return typeof actual === 'string' && actual.startsWith(value as string);
    case 'glob':
      return typeof actual === 'string' && globToRegExp(value as string).test(actual);
    default: {
      const unknown: never = op;
      throw new Error(`unknown filter op ${String(unknown)}`);
    }
  }
}

export function matchesDataFilter(filter: DataFilter | null, data: unknown): boolean {
  if (!filter) return true;
  if ('and' in filter) return filter.and.every((f) => matchesDataFilter(f, data));
  if ('or' in filter) return filter.or.some((f) => matchesDataFilter(f, data));
  if ('not' in filter) return !matchesDataFilter(filter.not, data);
  return test(filter, data);
}
