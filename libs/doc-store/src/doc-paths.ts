import { ValidationError } from '@app/core';

/** One path segment: starts with a letter or digit, then letters, digits, `.`, `_`, `-`. */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const MAX_PATH_LENGTH = 512;
export const MAX_DEPTH = 32;
export const PATH_RULES =
  'paths are segments separated by single slashes; each segment is 1-128 letters, digits, ".", "_" or "-" and starts with a letter or digit; at most 32 segments and 512 characters';

export const documentStreamId = (path: string) => `doc-${path}`;
/**
 * Not `doc-collection-<path>`: that would be the stream of the document `collection-<path>` too
 * (a document in the collection `collection-…`). A category of its own cannot collide.
 */
export const collectionStreamId = (path: string) => `doccollection-${path}`;

function segmentsOf(path: unknown): string[] | null {
  if (typeof path !== 'string' || path.length === 0 || path.length > MAX_PATH_LENGTH) return null;
  const segments = path.split('/');
  if (segments.length > MAX_DEPTH || !segments.every((s) => SEGMENT.test(s))) return null;
  return segments;
}

export function isCollectionPath(path: unknown): path is string {
  return segmentsOf(path) !== null;
}

/** A document path is its collection's path plus the document id: at least two segments. */
export function isDocumentPath(path: unknown): path is string {
  const segments = segmentsOf(path);
  return segments !== null && segments.length >= 2;
}

export function checkCollectionPath(path: unknown, field = 'path'): string {
  if (!isCollectionPath(path)) throw new ValidationError(`invalid collection path: ${PATH_RULES}`, { field }, 'INVALID_PATH');
  return path;
}

export function checkDocumentPath(path: unknown, field = 'path'): string {
  if (!isDocumentPath(path)) {
    throw new ValidationError(`invalid document path: a collection path plus a document id (at least two segments); ${PATH_RULES}`, { field }, 'INVALID_PATH');
  }
  return path;
}

export function collectionOf(documentPath: string): string {
  return documentPath.slice(0, documentPath.lastIndexOf('/'));
}

/**
 * A path no real document can have (\u0001 is not a path character): a scope pattern matches it only
 * where the pattern has a wildcard for the document id, i.e. when it covers every document of the collection.
 */
export function anyDocumentIn(collection: string): string {
  return `${collection}/\u0001`;
}
