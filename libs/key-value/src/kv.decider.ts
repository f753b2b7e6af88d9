import { ConflictError, type Decider, type DomainEvent, type ExternalEventCatalog, NotFoundError } from '@app/core';
import type { JsonValue } from '@app/event-store';

export type KeyValueEvent =
  | DomainEvent<'KeyValueSet', { key: string; value: JsonValue; tags: string[]; expiresAt: string | null }>
  | DomainEvent<'KeyValueDeleted', { key: string }>
  | DomainEvent<'KeyValueExpired', { key: string; expiresAt: string }>;

export const KEY_VALUE_EVENT_TYPES = ['KeyValueSet', 'KeyValueDeleted', 'KeyValueExpired'] as const;

interface Write {
  key: string;
  value: JsonValue;
  ttlSeconds?: number;
  tags?: string[];
  now: Date;
}

export type KeyValueCommand =
  | ({ type: 'CreateEntry' } & Write)
  | ({ type: 'UpsertEntry' } & Write)
  | ({ type: 'UpdateEntry' } & Write)
  | { type: 'DeleteEntry'; key: string; now: Date }
  | { type: 'ExpireEntry'; key: string; now: Date };

export interface KeyValueState {
  present: boolean;
  tags: string[];
  expiresAt: string | null;
}

export const kvStreamId = (key: string) => `kv-${key}`;

/** A key counts as absent once its TTL has passed, even before the expiry event is written. */
function live(state: KeyValueState, now: Date): boolean {
  return state.present && (state.expiresAt === null || Date.parse(state.expiresAt) > now.getTime());
}

function expiry(ttlSeconds: number | undefined, now: Date): string | null {
  return ttlSeconds ? new Date(now.getTime() + ttlSeconds * 1000).toISOString() : null;
}

export const keyValueDecider: Decider<KeyValueCommand, KeyValueState, KeyValueEvent> = {
  initialState: () => ({ present: false, tags: [], expiresAt: null }),

  decide(command, state) {
    switch (command.type) {
      case 'CreateEntry':
        if (live(state, command.now)) throw new ConflictError(`key ${command.key} already exists`, 'KEY_EXISTS');
        return [{ type: 'KeyValueSet', data: { key: command.key, value: command.value, tags: command.tags ?? [], expiresAt: expiry(command.ttlSeconds, command.now) } }];
      case 'UpsertEntry':
        return [{ type: 'KeyValueSet', data: { key: command.key, value: command.value, tags: command.tags ?? [], expiresAt: expiry(command.ttlSeconds, command.now) } }];
      case 'UpdateEntry':
        if (!live(state, command.now)) throw new NotFoundError(`key ${command.key} not found`, 'KEY_NOT_FOUND');
        return [
          {
            type: 'KeyValueSet',
            data: {
              key: command.key,
              value: command.value,
              tags: command.tags ?? state.tags,
              expiresAt: command.ttlSeconds === undefined ? state.expiresAt : expiry(command.ttlSeconds, command.now),
            },
          },
        ];
      case 'DeleteEntry':
        if (!live(state, command.now)) throw new NotFoundError(`key ${command.key} not found`, 'KEY_NOT_FOUND');
        return [{ type: 'KeyValueDeleted', data: { key: command.key } }];
      case 'ExpireEntry':
        if (!state.present || state.expiresAt === null || Date.parse(state.expiresAt) > command.now.getTime()) return [];
        return [{ type: 'KeyValueExpired', data: { key: command.key, expiresAt: state.expiresAt } }];
      default: {
        const unknown: never = command;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'KeyValueSet':
        return { present: true, tags: event.data.tags, expiresAt: event.data.expiresAt };
      case 'KeyValueDeleted':
      case 'KeyValueExpired':
        return { present: false, tags: [], expiresAt: null };
      default:
        return state;
    }
  },
};

export const KEY_VALUE_EXTERNAL_EVENTS: ExternalEventCatalog = {
  KeyValueSet: { name: 'key-value.entry.set', data: (e) => ({ ...(e.data as object), version: Number(e.revision + 1n) }) },
  KeyValueDeleted: { name: 'key-value.entry.deleted' },
  KeyValueExpired: { name: 'key-value.entry.expired' },
};
