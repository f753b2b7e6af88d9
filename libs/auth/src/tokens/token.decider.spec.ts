import { ConflictError, NotFoundError } from '@app/core';
import { deciderSpecification } from '../../../core/src/decider-specification.js';
import { tokenDecider, type TokenEvent } from './token.decider.js';

const spec = deciderSpecification(tokenDecider);
const now = new Date('2026-12-01T10:00:00Z');
const created: TokenEvent = {
  type: 'ApplicationTokenCreated',
  data: { tokenId: 't1', name: 'ci', role: 'application', scopes: [], expiresAt: '2026-12-31T00:00:00.000Z', secretHash: 'h1', createdAt: now.toISOString() },
};

describe('token decider', () => {
  test('creates a token', () => {
    spec.given([]).when({ type: 'CreateToken', tokenId: 't1', name: 'ci', role: 'application', scopes: [], expiresAt: new Date('2026-12-31T00:00:00Z'), secretHash: 'h1', now }).then([created]);
  });
  test('refuses to create twice', () => {
    spec.given([created]).when({ type: 'CreateToken', tokenId: 't1', name: 'x', role: 'owner', scopes: [], expiresAt: null, secretHash: 'h', now }).thenThrows(ConflictError, 'TOKEN_EXISTS');
  });
  test('rotates with a grace period for the old secret', () => {
    spec.given([created]).when({ type: 'RotateToken', secretHash: 'h2', graceSeconds: 60, now }).then([
      {
        type: 'ApplicationTokenRotated',
        data: { tokenId: 't1', secretHash: 'h2', previousSecretHash: 'h1', previousValidUntil: '2026-12-01T10:01:00.000Z', expiresAt: '2026-12-31T00:00:00.000Z', rotatedAt: now.toISOString() },
      },
    ]);
  });
  test('rotation of a missing, revoked or expired token fails', () => {
    spec.given([]).when({ type: 'RotateToken', secretHash: 'h2', graceSeconds: 0, now }).thenThrows(NotFoundError);
    spec.given([created, { type: 'ApplicationTokenRevoked', data: { tokenId: 't1', revokedAt: now.toISOString() } }]).when({ type: 'RotateToken', secretHash: 'h2', graceSeconds: 0, now }).thenThrows(ConflictError, 'TOKEN_REVOKED');
    spec.given([created]).when({ type: 'RotateToken', secretHash: 'h2', graceSeconds: 0, now: new Date('2027-01-01T00:00:00Z') }).thenThrows(ConflictError, 'TOKEN_EXPIRED');
  });
  test('revoking is idempotent', () => {
    const revoked: TokenEvent = { type: 'ApplicationTokenRevoked', data: { tokenId: 't1', revokedAt: now.toISOString() } };
    spec.given([created]).when({ type: 'RevokeToken', now }).then([revoked]);
    spec.given([created, revoked]).when({ type: 'RevokeToken', now }).then([]);
  });
});
