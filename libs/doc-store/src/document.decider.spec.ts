import { ConflictError, DomainError, NotFoundError } from '@app/core';
import { deciderSpecification } from '../../core/src/decider-specification.js';
import { collectionDecider } from './collection.decider.js';
import { documentDecider, type DocumentEvent } from './document.decider.js';

const doc = deciderSpecification(documentDecider);
const col = deciderSpecification(collectionDecider);
const where = { path: 'releases/q4/b1', collection: 'releases/q4', generation: 0 };
const created = (value: unknown, generation = 0): DocumentEvent => ({ type: 'DocumentCreated', data: { ...where, generation, value } }) as DocumentEvent;
const LIMIT = 64;

describe('document decider', () => {
  test('create in a live collection', () => {
    doc.given([]).when({ type: 'CreateDocument', path: where.path, generation: 0, value: { a: 1 }, maxValueBytes: LIMIT }).then([created({ a: 1 })]);
  });

  test('create without a collection is not found', () => {
    doc.given([]).when({ type: 'CreateDocument', path: where.path, generation: null, value: 1, maxValueBytes: LIMIT }).thenThrows(NotFoundError, 'COLLECTION_NOT_FOUND');
  });

  test('create of a live document is a conflict', () => {
    doc.given([created(1)]).when({ type: 'CreateDocument', path: where.path, generation: 0, value: 2, maxValueBytes: LIMIT }).thenThrows(ConflictError, 'DOCUMENT_EXISTS');
  });

  test('a document of an earlier generation of its collection is gone: create again, update fails', () => {
    doc.given([created(1, 0)]).when({ type: 'CreateDocument', path: where.path, generation: 3, value: 2, maxValueBytes: LIMIT }).then([created(2, 3)]);
    doc.given([created(1, 0)]).when({ type: 'ReplaceDocument', path: where.path, generation: 3, value: 2, maxValueBytes: LIMIT }).thenThrows(NotFoundError, 'DOCUMENT_NOT_FOUND');
  });

  test('replace and merge-patch store the full new value', () => {
    doc.given([created({ a: 1, b: { c: 2 } })]).when({ type: 'ReplaceDocument', path: where.path, generation: 0, value: { z: 1 }, maxValueBytes: LIMIT }).then([
      { type: 'DocumentUpdated', data: { ...where, value: { z: 1 }, change: 'replace' } },
    ]);
    doc.given([created({ a: 1, b: { c: 2 } })]).when({ type: 'PatchDocument', path: where.path, generation: 0, patch: { a: null, b: { d: 3 } }, maxValueBytes: LIMIT }).then([
      { type: 'DocumentUpdated', data: { ...where, value: { b: { c: 2, d: 3 } }, change: 'merge-patch' } },
    ]);
  });

  test('the size limit applies to the value after the patch', () => {
    doc.given([created({ a: 'x'.repeat(40) })]).when({ type: 'PatchDocument', path: where.path, generation: 0, patch: { b: 'y'.repeat(20) }, maxValueBytes: LIMIT }).thenThrows(DomainError, 'VALUE_TOO_LARGE');
    doc.given([]).when({ type: 'CreateDocument', path: where.path, generation: 0, value: 'x'.repeat(LIMIT), maxValueBytes: LIMIT }).thenThrows(DomainError, 'VALUE_TOO_LARGE');
  });

  test('delete, then update and delete are not found, create works again', () => {
    const deleted: DocumentEvent = { type: 'DocumentDeleted', data: where };
    doc.given([created(1)]).when({ type: 'DeleteDocument', path: where.path, generation: 0 }).then([deleted]);
    doc.given([created(1), deleted]).when({ type: 'DeleteDocument', path: where.path, generation: 0 }).thenThrows(NotFoundError, 'DOCUMENT_NOT_FOUND');
    doc.given([created(1), deleted]).when({ type: 'PatchDocument', path: where.path, generation: 0, patch: {}, maxValueBytes: LIMIT }).thenThrows(NotFoundError, 'DOCUMENT_NOT_FOUND');
    doc.given([created(1), deleted]).when({ type: 'CreateDocument', path: where.path, generation: 0, value: 2, maxValueBytes: LIMIT }).then([created(2)]);
  });
});

describe('collection decider', () => {
  test('create, 409 when it exists, delete, create again with a new generation', () => {
    col.given([]).when({ type: 'CreateCollection', path: 'a/b' }).then([{ type: 'DocCollectionCreated', data: { path: 'a/b', generation: 0 } }]);
    col.given([{ type: 'DocCollectionCreated', data: { path: 'a/b', generation: 0 } }]).when({ type: 'CreateCollection', path: 'a/b' }).thenThrows(ConflictError, 'COLLECTION_EXISTS');
    col.given([{ type: 'DocCollectionCreated', data: { path: 'a/b', generation: 0 } }]).when({ type: 'DeleteCollection', path: 'a/b' }).then([
      { type: 'DocCollectionDeleted', data: { path: 'a/b', generation: 0 } },
    ]);
    col.given([
      { type: 'DocCollectionCreated', data: { path: 'a/b', generation: 0 } },
      { type: 'DocCollectionDeleted', data: { path: 'a/b', generation: 0 } },
    ]).when({ type: 'CreateCollection', path: 'a/b' }).then([{ type: 'DocCollectionCreated', data: { path: 'a/b', generation: 2 } }]);
  });

  test('delete of a missing collection is not found', () => {
    col.given([]).when({ type: 'DeleteCollection', path: 'a' }).thenThrows(NotFoundError, 'COLLECTION_NOT_FOUND');
  });
});
