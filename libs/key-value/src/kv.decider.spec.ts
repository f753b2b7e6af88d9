import { ConflictError, NotFoundError } from '@app/core';
import { deciderSpecification } from '../../core/src/decider-specification.js';
import { keyValueDecider, type KeyValueEvent } from './kv.decider.js';

const spec = deciderSpecification(keyValueDecider);
const now = new Date('2026-12-01T10:00:00Z');
const set = (value: KeyValueEvent['data'] extends never ? never : unknown, extra: Partial<{ tags: string[]; expiresAt: string | null }> = {}): KeyValueEvent =>
  ({ type: 'KeyValueSet', data: { key: 'ci/x', value, tags: extra.tags ?? [], expiresAt: extra.expiresAt ?? null } }) as KeyValueEvent;

describe('key-value decider', () => {
  test('create sets a new key with its TTL', () => {
    spec.given([]).when({ type: 'CreateEntry', key: 'ci/x', value: 1, ttlSeconds: 60, tags: ['a'], now }).then([set(1, { tags: ['a'], expiresAt: '2026-12-01T10:01:00.000Z' })]);
  });
  test('create of an existing key is a conflict', () => {
    spec.given([set(1)]).when({ type: 'CreateEntry', key: 'ci/x', value: 2, now }).thenThrows(ConflictError, 'KEY_EXISTS');
  });
  test('create over an expired key succeeds', () => {
    spec.given([set(1, { expiresAt: '2026-12-01T09:00:00.000Z' })]).when({ type: 'CreateEntry', key: 'ci/x', value: 2, now }).then([set(2)]);
  });
  test('update keeps tags and expiry unless given', () => {
    spec.given([set(1, { tags: ['t'], expiresAt: '2026-12-02T00:00:00.000Z' })]).when({ type: 'UpdateEntry', key: 'ci/x', value: 2, now }).then([set(2, { tags: ['t'], expiresAt: '2026-12-02T00:00:00.000Z' })]);
  });
  test('update and delete of a missing or deleted key are not found', () => {
    spec.given([]).when({ type: 'UpdateEntry', key: 'ci/x', value: 2, now }).thenThrows(NotFoundError, 'KEY_NOT_FOUND');
    spec.given([set(1), { type: 'KeyValueDeleted', data: { key: 'ci/x' } }]).when({ type: 'DeleteEntry', key: 'ci/x', now }).thenThrows(NotFoundError);
  });
  test('upsert always sets', () => {
    spec.given([set(1, { tags: ['t'] })]).when({ type: 'UpsertEntry', key: 'ci/x', value: { a: [1] }, now }).then([set({ a: [1] })]);
  });
  test('expire only once the TTL has passed', () => {
    spec.given([set(1, { expiresAt: '2026-12-01T11:00:00.000Z' })]).when({ type: 'ExpireEntry', key: 'ci/x', now }).then([]);
    spec.given([set(1, { expiresAt: '2026-12-01T09:00:00.000Z' })]).when({ type: 'ExpireEntry', key: 'ci/x', now }).then([
      { type: 'KeyValueExpired', data: { key: 'ci/x', expiresAt: '2026-12-01T09:00:00.000Z' } },
    ]);
    spec.given([set(1)]).when({ type: 'ExpireEntry', key: 'ci/x', now }).then([]);
  });
});
