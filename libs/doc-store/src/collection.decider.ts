import { ConflictError, type Decider, type DomainEvent, NotFoundError } from '@app/core';

export type CollectionEvent =
  | DomainEvent<'DocCollectionCreated', { path: string; generation: number }>
  | DomainEvent<'DocCollectionDeleted', { path: string; generation: number }>;

export const COLLECTION_EVENT_TYPES = ['DocCollectionCreated', 'DocCollectionDeleted'] as const;

export type CollectionCommand = { type: 'CreateCollection'; path: string } | { type: 'DeleteCollection'; path: string };

/**
 * `generation` is the stream revision of the creation event: documents written while the collection
 * lived carry it, so that documents of a deleted collection never come back when a collection of the
 * same name is created again.
 */
export interface CollectionState {
  generation: number | null;
  events: number;
}

export const collectionDecider: Decider<CollectionCommand, CollectionState, CollectionEvent> = {
  initialState: () => ({ generation: null, events: 0 }),

  decide(command, state) {
    switch (command.type) {
      case 'CreateCollection':
        if (state.generation !== null) throw new ConflictError(`collection ${command.path} already exists`, 'COLLECTION_EXISTS');
        return [{ type: 'DocCollectionCreated', data: { path: command.path, generation: state.events } }];
      case 'DeleteCollection':
        if (state.generation === null) throw new NotFoundError(`collection ${command.path} not found`, 'COLLECTION_NOT_FOUND');
        return [{ type: 'DocCollectionDeleted', data: { path: command.path, generation: state.generation } }];
      default: {
        const unknown: never = command;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'DocCollectionCreated':
        return { generation: event.data.generation, events: state.events + 1 };
      case 'DocCollectionDeleted':
        return { generation: null, events: state.events + 1 };
      default:
        return state;
    }
  },
};
