import { ConflictError, type Decider, DomainError, type DomainEvent, NotFoundError } from '@app/core';
import type { JsonValue } from '@app/event-store';
import { collectionOf } from './doc-paths.js';
import { applyMergePatch } from './merge-patch.js';

interface Where {
  path: string;
  collection: string;
  generation: number;
}

export type DocumentEvent =
  | DomainEvent<'DocumentCreated', Where & { value: JsonValue }>
  | DomainEvent<'DocumentUpdated', Where & { value: JsonValue; change: 'replace' | 'merge-patch' }>
  | DomainEvent<'DocumentDeleted', Where>;

export const DOCUMENT_EVENT_TYPES = ['DocumentCreated', 'DocumentUpdated', 'DocumentDeleted'] as const;

interface Target {
  path: string;
  /** The collection's current generation (from its stream); null when it does not exist. */
  generation: number | null;
}

export type DocumentCommand =
  | (Target & { type: 'CreateDocument'; value: JsonValue; maxValueBytes: number })
  | (Target & { type: 'ReplaceDocument'; value: JsonValue; maxValueBytes: number })
  | (Target & { type: 'PatchDocument'; patch: JsonValue; maxValueBytes: number })
  | (Target & { type: 'DeleteDocument' });

export interface DocumentState {
  exists: boolean;
  /** Generation of the collection the document was written in. */
  generation: number | null;
  value: JsonValue;
}

/** A document lives only while the collection generation it was written in lives. */
function live(state: DocumentState, generation: number | null): boolean {
  return state.exists && generation !== null && state.generation === generation;
}

function checkSize(value: JsonValue, limit: number): void {
  const size = Buffer.byteLength(JSON.stringify(value));
  if (size > limit) throw new DomainError('VALUE_TOO_LARGE', `the value is ${size} bytes; the limit is ${limit}`, 413, { limit });
}

function where(command: Target): Where {
  if (command.generation === null) {
    throw new NotFoundError(`collection ${collectionOf(command.path)} not found; create it first`, 'COLLECTION_NOT_FOUND');
  }
  return { path: command.path, collection: collectionOf(command.path), generation: command.generation };
}

function existing(command: Target, state: DocumentState): Where {
  const w = where(command);
  if (!live(state, command.generation)) throw new NotFoundError(`document ${command.path} not found`, 'DOCUMENT_NOT_FOUND');
  return w;
}

export const documentDecider: Decider<DocumentCommand, DocumentState, DocumentEvent> = {
  initialState: () => ({ exists: false, generation: null, value: null }),

  decide(command, state) {
    switch (command.type) {
      case 'CreateDocument': {
        const w = where(command);
        if (live(state, command.generation)) throw new ConflictError(`document ${command.path} already exists; send its version to replace it`, 'DOCUMENT_EXISTS');
        checkSize(command.value, command.maxValueBytes);
        return [{ type: 'DocumentCreated', data: { ...w, value: command.value } }];
      }
      case 'ReplaceDocument': {
        const w = existing(command, state);
        checkSize(command.value, command.maxValueBytes);
        return [{ type: 'DocumentUpdated', data: { ...w, value: command.value, change: 'replace' } }];
      }
      case 'PatchDocument': {
        const w = existing(command, state);
        const value = applyMergePatch(state.value, command.patch);
        checkSize(value, command.maxValueBytes);
        return [{ type: 'DocumentUpdated', data: { ...w, value, change: 'merge-patch' } }];
      }
      case 'DeleteDocument':
        return [{ type: 'DocumentDeleted', data: existing(command, state) }];
      default: {
        const unknown: never = command;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'DocumentCreated':
      case 'DocumentUpdated':
        return { exists: true, generation: event.data.generation, value: event.data.value };
      case 'DocumentDeleted':
        return { exists: false, generation: null, value: null };
      default:
        return state;
    }
  },
};
