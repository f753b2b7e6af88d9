import { ConflictError, type Decider, type DomainEvent, type ExternalEventCatalog, NotFoundError } from '@app/core';
import type { Role } from '../permissions.js';

export type TokenEvent =
  | DomainEvent<'ApplicationTokenCreated', { tokenId: string; name: string; role: Role; scopes: string[]; expiresAt: string | null; secretHash: string; createdAt: string }>
  | DomainEvent<'ApplicationTokenRotated', { tokenId: string; secretHash: string; previousSecretHash: string; previousValidUntil: string | null; expiresAt: string | null; rotatedAt: string }>
  | DomainEvent<'ApplicationTokenRevoked', { tokenId: string; revokedAt: string }>;

export const TOKEN_EVENT_TYPES = ['ApplicationTokenCreated', 'ApplicationTokenRotated', 'ApplicationTokenRevoked'] as const;

export type TokenCommand =
  | { type: 'CreateToken'; tokenId: string; name: string; role: Role; scopes: string[]; expiresAt: Date | null; secretHash: string; now: Date }
  | { type: 'RotateToken'; secretHash: string; graceSeconds: number; expiresAt?: Date | null; now: Date }
  | { type: 'RevokeToken'; now: Date };

export type TokenState =
  | { status: 'none' }
  | { status: 'active' | 'revoked'; tokenId: string; secretHash: string; expiresAt: string | null };

export const tokenStreamId = (tokenId: string) => `application-token-${tokenId}`;

function expired(state: { expiresAt: string | null }, now: Date): boolean {
  return state.expiresAt !== null && Date.parse(state.expiresAt) <= now.getTime();
}

export const tokenDecider: Decider<TokenCommand, TokenState, TokenEvent> = {
  initialState: () => ({ status: 'none' }),

  decide(command, state) {
    switch (command.type) {
      case 'CreateToken':
        if (state.status !== 'none') throw new ConflictError(`token ${command.tokenId} already exists`, 'TOKEN_EXISTS');
        return [
          {
            type: 'ApplicationTokenCreated',
            data: {
              tokenId: command.tokenId,
              name: command.name,
              role: command.role,
              scopes: command.scopes,
              expiresAt: command.expiresAt?.toISOString() ?? null,
              secretHash: command.secretHash,
              createdAt: command.now.toISOString(),
            },
          },
        ];
      case 'RotateToken': {
        if (state.status === 'none') throw new NotFoundError('token not found', 'TOKEN_NOT_FOUND');
        if (state.status === 'revoked') throw new ConflictError('a revoked token cannot be rotated', 'TOKEN_REVOKED');
        if (expired(state, command.now)) throw new ConflictError('an expired token cannot be rotated', 'TOKEN_EXPIRED');
        const graceEnd = command.graceSeconds > 0 ? new Date(command.now.getTime() + command.graceSeconds * 1000) : command.now;
        const expiresAt = command.expiresAt === undefined ? state.expiresAt : (command.expiresAt?.toISOString() ?? null);
        return [
          {
            type: 'ApplicationTokenRotated',
            data: {
              tokenId: state.tokenId,
              secretHash: command.secretHash,
              previousSecretHash: state.secretHash,
              previousValidUntil: graceEnd.toISOString(),
              expiresAt,
              rotatedAt: command.now.toISOString(),
            },
          },
        ];
      }
      case 'RevokeToken':
        if (state.status === 'none') throw new NotFoundError('token not found', 'TOKEN_NOT_FOUND');
        if (state.status === 'revoked') return [];
        return [{ type: 'ApplicationTokenRevoked', data: { tokenId: state.tokenId, revokedAt: command.now.toISOString() } }];
      default: {
        const unknown: never = command;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'ApplicationTokenCreated':
        return { status: 'active', tokenId: event.data.tokenId, secretHash: event.data.secretHash, expiresAt: event.data.expiresAt };
      case 'ApplicationTokenRotated':
        return state.status === 'none' ? state : { ...state, secretHash: event.data.secretHash, expiresAt: event.data.expiresAt };
      case 'ApplicationTokenRevoked':
        return state.status === 'none' ? state : { ...state, status: 'revoked' };
      default:
        return state;
    }
  },
};

/** Public names (BRIEF §4); secret hashes never leave the system. */
export const TOKEN_EXTERNAL_EVENTS: ExternalEventCatalog = {
  ApplicationTokenCreated: {
    name: 'auth.token.created',
    data: (e) => {
      const { secretHash: _hash, ...rest } = e.data as { secretHash: string };
      return rest;
    },
  },
  ApplicationTokenRotated: {
    name: 'auth.token.rotated',
    data: (e) => {
      const d = e.data as { tokenId: string; previousValidUntil: string | null; expiresAt: string | null; rotatedAt: string };
      return { tokenId: d.tokenId, previousValidUntil: d.previousValidUntil, expiresAt: d.expiresAt, rotatedAt: d.rotatedAt };
    },
  },
  ApplicationTokenRevoked: { name: 'auth.token.revoked' },
};
