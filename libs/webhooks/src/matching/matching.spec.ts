import { ValidationError } from '@app/core';
import { matchesDataFilter, parseDataFilter } from './data-filter.js';
import { eventPatternsMatcher } from './event-patterns.js';
import { redact } from './redact.js';

describe('event patterns', () => {
  test('* stands for any characters, dots included', () => {
    const m = eventPatternsMatcher(['task.*', 'doc-store.document.updated']);
    expect(['task.submitted', 'task.a.b', 'doc-store.document.updated'].map(m)).toEqual([true, true, true]);
    expect(['tasks.x', 'doc-store.document.created', 'task'].map(m)).toEqual([false, false, false]);
    expect(eventPatternsMatcher(['*'])('anything.at.all')).toBe(true);
    expect(eventPatternsMatcher(['doc-store.*.deleted'])('doc-store.document.deleted')).toBe(true);
  });
});

describe('data filters', () => {
  const data = { path: 'releases/2026/q4', type: 'deploy', n: 5, tags: ['a', 'b'], value: { env: 'prod' } };
  const m = (f: unknown) => matchesDataFilter(parseDataFilter(f), data);

  test('comparisons, globs and nested fields', () => {
    expect(m({ field: 'path', op: 'glob', value: 'releases/**' })).toBe(true);
    expect(m({ field: 'path', op: 'glob', value: 'releases/*' })).toBe(false);
    expect(m({ field: 'value.env', op: 'eq', value: 'prod' })).toBe(true);
    expect(m({ field: 'n', op: 'gt', value: 4 })).toBe(true);
    expect(m({ field: 'n', op: 'lte', value: 4 })).toBe(false);
    expect(m({ field: 'n', op: 'gt', value: '4' })).toBe(false);
    expect(m({ field: 'tags', op: 'contains', value: 'b' })).toBe(true);
    expect(m({ field: 'type', op: 'in', value: ['build', 'deploy'] })).toBe(true);
    expect(m({ field: 'missing', op: 'exists', value: false })).toBe(true);
    expect(m({ field: 'path', op: 'prefix', value: 'rel' })).toBe(true);
  });

  test('and / or / not', () => {
    expect(m({ and: [{ field: 'type', op: 'eq', value: 'deploy' }, { not: { field: 'value.env', op: 'eq', value: 'dev' } }] })).toBe(true);
    expect(m({ or: [{ field: 'type', op: 'eq', value: 'x' }, { field: 'n', op: 'eq', value: 6 }] })).toBe(false);
  });

  test('bad filters name the offending node', () => {
    const bad = (f: unknown, where: string) => {
      try {
        parseDataFilter(f);
        throw new Error('accepted');
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).details).toEqual({ field: where });
      }
    };
    bad({ field: 'a', op: 'like', value: 1 }, 'filter.op');
    bad({ and: [{ field: 'a', op: 'in', value: 1 }] }, 'filter.and.0.value');
    bad({ or: [] }, 'filter.or');
    bad({ field: 'a b', op: 'eq', value: 1 }, 'filter.field');
    bad('x', 'filter');
  });
});

describe('redaction', () => {
  test('removes paths, wildcards and through arrays, without touching the input', () => {
    const input = { key: 'k', value: { password: 'p', keep: 1 }, items: [{ token: 't', id: 1 }, { token: 'u', id: 2 }], nested: { a: { secret: 1 }, b: { secret: 2 } } };
    const out = redact(input, ['value.password', 'items.token', 'nested.*.secret', 'absent.path']);
    expect(out).toEqual({ key: 'k', value: { keep: 1 }, items: [{ id: 1 }, { id: 2 }], nested: { a: {}, b: {} } });
    expect(input.value.password).toBe('p');
  });
});
