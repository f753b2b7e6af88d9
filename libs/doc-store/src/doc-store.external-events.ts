import type { ExternalEventCatalog } from '@app/core';
import type { RecordedEvent } from '@app/event-store';
import type { DocumentEvent } from './document.decider.js';

const version = (e: RecordedEvent) => Number(e.revision + 1n);

/** Public names and data: the collection generation is internal. */
export const DOC_STORE_EXTERNAL_EVENTS: ExternalEventCatalog = {
  DocumentCreated: {
    name: 'doc-store.document.created',
    data: (e) => {
      const d = e.data as Extract<DocumentEvent, { type: 'DocumentCreated' }>['data'];
      return { path: d.path, collection: d.collection, value: d.value, version: version(e) };
    },
  },
  DocumentUpdated: {
    name: 'doc-store.document.updated',
    data: (e) => {
      const d = e.data as Extract<DocumentEvent, { type: 'DocumentUpdated' }>['data'];
      return { path: d.path, collection: d.collection, value: d.value, change: d.change, version: version(e) };
    },
  },
  DocumentDeleted: {
    name: 'doc-store.document.deleted',
    data: (e) => {
      const d = e.data as Extract<DocumentEvent, { type: 'DocumentDeleted' }>['data'];
      return { path: d.path, collection: d.collection, version: version(e) };
    },
  },
  DocCollectionCreated: { name: 'doc-store.collection.created', data: (e) => ({ path: (e.data as { path: string }).path }) },
  DocCollectionDeleted: { name: 'doc-store.collection.deleted', data: (e) => ({ path: (e.data as { path: string }).path }) },
};
