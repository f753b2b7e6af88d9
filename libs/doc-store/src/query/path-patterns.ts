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

/**
 * A pattern as SQL that the indexes can serve: an exact path, a collection (`a/b/*`), a subtree
 * (`a/b/**`: a range scan of the path index), or else a LIKE prefix (range scan) checked with a regex.
 */
function patternSql(pattern: string, regex: string, params: SqlParams): string {
  const star = pattern.indexOf('*');
  if (star === -1) return `path = ${params.add(pattern)}`;
  const head = pattern.slice(0, star);
  const tail = pattern.slice(star);
  if (tail === '*' && head.endsWith('/')) return `collection = ${params.add(head.slice(0, -1))}`;
  if (tail === '**' && head.endsWith('/')) {
    const base = head.slice(0, -1);
    return `(path = ${params.add(base)} OR path LIKE ${params.add(escapeLike(head) + '%')})`;
  }
  if (pattern === '**') return 'TRUE';
  // Whatever a match starts with: `a/**` can match `a` itself, so its slash is not part of the prefix.
  const prefix = tail.startsWith('**') && head.endsWith('/') ? head.slice(0, -1) : head;
  const like = prefix ? `path LIKE ${params.add(escapeLike(prefix) + '%')} AND ` : '';
  return `(${like}path ~ ${params.add(regex)})`;
}

/** Documents matching any of the query's patterns. */
export function queryPatternsSql(patterns: readonly string[], params: SqlParams): string {
  if (patterns.includes('**')) return 'TRUE';
  return `(${patterns.map((p) => patternSql(p, patternRegex(p), params)).join(' OR ')})`;
}

/**
 * Documents a token's scope patterns allow (null: no restriction). Scope globs are matched with
 * globToRegExp, exactly as the per-document checks (can/assertCan) match them.
 */
export function scopePatternsSql(patterns: readonly string[] | null, params: SqlParams): string {
  if (patterns === null) return 'TRUE';
  if (patterns.length === 0) return 'FALSE';
  if (patterns.includes('**')) return 'TRUE';
  return `(${patterns.map((p) => patternSql(p, globToRegExp(p).source, params)).join(' OR ')})`;
}
