/** Dotted paths into an event's data: `path`, `value.env`, `items.0.id`; `*` (redaction only) stands for any key. */
export const FIELD_PATH = /^[A-Za-z0-9_$@-]{1,64}(\.[A-Za-z0-9_$@-]{1,64}){0,15}$/;
export const REDACT_PATH = /^([A-Za-z0-9_$@-]{1,64}|\*)(\.([A-Za-z0-9_$@-]{1,64}|\*)){0,15}$/;

export function readPath(data: unknown, path: string): unknown {
  let node = data;
  for (const segment of path.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}
