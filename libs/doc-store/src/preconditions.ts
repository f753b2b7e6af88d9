import { DomainError, ValidationError } from '@app/core';
import type { ExpectedVersion } from './doc-store.commands.js';

/** If-Match: "3", W/"3" or 3 (the ETag of a document is its version). */
function ifMatchVersion(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?([1-9]\d{0,14})"?\s*$/.exec(header);
  if (!m) throw new ValidationError('If-Match must be a document version (its ETag) such as "3"', { header: 'If-Match' }, 'INVALID_IF_MATCH');
  return Number(m[1]);
}

export function expectedVersion(bodyVersion: number | undefined, ifMatch: string | undefined): ExpectedVersion | undefined {
  const header = ifMatchVersion(ifMatch);
  if (header !== undefined && bodyVersion !== undefined && header !== bodyVersion) {
    throw new ValidationError('the version in the body and If-Match disagree', { field: 'version' }, 'VERSION_MISMATCH');
  }
  if (header !== undefined) return { version: header, source: 'if-match' };
  return bodyVersion === undefined ? undefined : { version: bodyVersion, source: 'body' };
}

/** Updates and deletes of an existing document must say which version they change. */
export function requireExpectedVersion(bodyVersion: number | undefined, ifMatch: string | undefined, how: string): ExpectedVersion {
  const expected = expectedVersion(bodyVersion, ifMatch);
  if (!expected) throw new DomainError('PRECONDITION_REQUIRED', `send the version you read: ${how}`, 428);
  return expected;
}
