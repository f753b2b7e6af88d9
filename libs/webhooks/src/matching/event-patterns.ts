/** `task.*`, `doc-store.document.updated`, `*`: `*` stands for any characters, dots included. */
export const EVENT_PATTERN = /^(\*|[a-z0-9*][a-z0-9_*-]*(\.[a-z0-9*][a-z0-9_*-]*)*)$/;
export const EVENT_PATTERN_RULES = 'event patterns are dotted lower-case names where * stands for any characters, e.g. task.*, doc-store.document.updated or *';

const cache = new Map<string, RegExp>();

export function eventPatternsMatcher(patterns: readonly string[]): (type: string) => boolean {
  const key = patterns.join('\n');
  let re = cache.get(key);
  if (!re) {
    re = new RegExp(`^(?:${patterns.map((p) => p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\-]/g, '\\$&')).join('.*')).join('|')})$`);
    if (cache.size > 10_000) cache.clear();
    cache.set(key, re);
  }
  const compiled = re;
  return (type) => compiled.test(type);
}
