import { globToRegExp } from '@app/auth';
import type { SqlParams } from './sql-params.js';

const escapeRegex = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
export const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Regex for a query pattern (`**` is a whole segment): `a/**` also matches `a`, `a/**\/z` matches `a/z` and `a/b/z`. */
export function patternRegex(pattern: string): string {
  const segments = pattern.split('/');
  let out = '';
  let joined = false;
  segments.forEach((segment, i) => {
    const sep = i === 0 || joined ? '' : '/';
    joined = false;
    if (segment === '**') {
      const last = i === segments.length - 1;
      if (last) out += i === 0 ? '.*' : '(?:/.*)?';
      else {
        out += i === 0 ? '(?:.*/)?' : '/(?:.*/)?';
        joined = true;
      }
    } else {
      out += sep + segment.split('*').map(escapeRegex).join('[^/]*');
    }
  });
  return `^${out}$`;
}

interface Glob {
  pattern: string;
  regex(glob: string): string;
  /** Whether the pattern may be split into a collection part and a document id part. */
  splittable: boolean;
}

/**
 * Patterns as SQL that the indexes can serve: exact paths (path index), collections (`a/b/*`:
 * collection index), subtrees (`a/b/**`: a range scan of the path index), collections named with
 * wildcards (say the app-1 collection of every team: the matching collections are looked up first in
 * doc_collections, a few rows, then the collection index is used), or else a LIKE prefix (a range scan)
 * checked with a regex.
 */
function patternsSql(globs: readonly Glob[], params: SqlParams): string {
  const paths: string[] = [];
  const collections: string[] = [];
  const collectionRegexes: string[] = [];
  const parts: string[] = [];
  for (const { pattern, regex, splittable } of globs) {
    const star = pattern.indexOf('*');
    if (star === -1) {
      paths.push(pattern);
      continue;
    }
    const head = pattern.slice(0, star);
    const tail = pattern.slice(star);
    if (pattern === '**') return 'TRUE';
    if (tail === '*' && head.endsWith('/')) {
      collections.push(head.slice(0, -1));
      continue;
    }
    if (tail === '**' && head.endsWith('/')) {
      // `a/b/**` also matches the document `a/b` itself; a one-segment base cannot be a document.
      const base = head.slice(0, -1);
      const subtree = `path LIKE ${params.add(escapeLike(head) + '%')}`;
      parts.push(base.includes('/') ? `(path = ${params.add(base)} OR ${subtree})` : subtree);
      continue;
    }
    const cut = pattern.lastIndexOf('/');
    const collection = pattern.slice(0, Math.max(cut, 0));
    const id = pattern.slice(cut + 1);
    if (splittable && collection.includes('*') && id !== '**') {
      // A document is in a matching collection and its id (one segment) matches the last segment.
      if (id === '*') collectionRegexes.push(regex(collection));
      else parts.push(`(collection = ANY(ARRAY(SELECT path FROM doc_collections WHERE path ~ ${params.add(regex(collection))})) AND path ~ ${params.add(regex(pattern))})`);
      continue;
    }
    // Whatever a match starts with: `a/**` can match `a` itself, so its slash is not part of the prefix.
    const prefix = tail.startsWith('**') && head.endsWith('/') ? head.slice(0, -1) : head;
    const like = prefix ? `path LIKE ${params.add(escapeLike(prefix) + '%')} AND ` : '';
    parts.push(`(${like}path ~ ${params.add(regex(pattern))})`);
  }
  if (paths.length) parts.unshift(paths.length === 1 ? `path = ${params.add(paths[0])}` : `path = ANY(${params.add(paths)}::text[])`);
  if (collections.length) parts.unshift(collections.length === 1 ? `collection = ${params.add(collections[0])}` : `collection = ANY(${params.add(collections)}::text[])`);
  if (collectionRegexes.length) parts.push(`collection = ANY(ARRAY(SELECT path FROM doc_collections WHERE path ~ ANY(${params.add(collectionRegexes)}::text[])))`);
  return parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`;
}

/** Documents matching any of the query's patterns (`**` is always a whole segment there). */
export function queryPatternsSql(patterns: readonly string[], params: SqlParams): string {
  return patternsSql(patterns.map((pattern) => ({ pattern, regex: patternRegex, splittable: true })), params);
}

/**
 * Documents a token's scope patterns allow (null: no restriction). Scope globs are matched with
 * globToRegExp, exactly as the per-document checks (can/assertCan) match them; one with `**` is not split
 * into collection and id, since globToRegExp lets `**` run across that boundary.
 */
export function scopePatternsSql(patterns: readonly string[] | null, params: SqlParams): string {
  if (patterns === null) return 'TRUE';
  if (patterns.length === 0) return 'FALSE';
  return patternsSql(patterns.map((pattern) => ({ pattern, regex: (glob: string) => globToRegExp(glob).source, splittable: !pattern.includes('**') })), params);
}
