/**
 * Removes the fields at the given paths (`value.password`, `*.token`); a path through an array applies to
 * each element. Returns a copy; the input is never changed.
 */
export function redact<T>(data: T, paths: readonly string[]): T {
  if (!paths.length || data === null || typeof data !== 'object') return data;
  const copy = structuredClone(data);
  for (const path of paths) remove(copy, path.split('.'));
  return copy;
}

function remove(node: unknown, segments: string[]): void {
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node) && !/^\d+$/.test(segments[0]) && segments[0] !== '*') {
    for (const item of node) remove(item, segments);
    return;
  }
  const record = node as Record<string, unknown>;
  const [head, ...rest] = segments;
  const keys = head === '*' ? Object.keys(record) : Object.hasOwn(record, head) ? [head] : [];
  for (const key of keys) {
    if (rest.length === 0) {
      if (Array.isArray(record)) record[Number(key)] = null;
      else delete record[key];
    } else remove(record[key], rest);
  }
}
