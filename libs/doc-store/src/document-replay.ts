import type { Actor, RecordedEvent } from '@app/event-store';
import type { CollectionEvent } from './collection.decider.js';
import type { DocumentEvent } from './document.decider.js';
import type { DocumentView } from './query/query.types.js';

export interface ReplayedDocument {
  live: boolean;
  generation: number | null;
  view: DocumentView | null;
}

/** Folds a document stream (as far as it is given) into what a read of it returned at that point. */
export function replayDocument(events: readonly RecordedEvent[]): ReplayedDocument {
  let state: ReplayedDocument = { live: false, generation: null, view: null };
  for (const recorded of events) {
    const event = { type: recorded.type, data: recorded.data } as DocumentEvent;
    const at = recorded.createdAt.toISOString();
    if (event.type === 'DocumentDeleted') state = { live: false, generation: null, view: null };
    else {
      const createdAt = event.type === 'DocumentCreated' || !state.view ? at : state.view.createdAt;
      const view = { path: event.data.path, value: event.data.value, version: Number(recorded.revision + 1n), createdAt, updatedAt: at, updatedBy: recorded.metadata.actor as Actor };
      state = { live: true, generation: event.data.generation, view };
    }
  }
  return state;
}

/** The generation of a collection after these of its events (null: it did not exist). */
export function replayCollection(events: readonly RecordedEvent[]): number | null {
  let generation: number | null = null;
  for (const recorded of events) {
    const event = { type: recorded.type, data: recorded.data } as CollectionEvent;
    generation = event.type === 'DocCollectionCreated' ? event.data.generation : null;
  }
  return generation;
}
