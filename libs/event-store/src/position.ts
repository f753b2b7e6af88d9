import type { Position } from './types.js';

export const START: Position = Object.freeze({ commit: -1n, prepare: -1n });

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

export function maxPosition(a: Position, b: Position): Position {
  return comparePositions(a, b) >= 0 ? a : b;
}

/** Text form used in APIs and checkpoints: `<commit>-<prepare>`. */
export function formatPosition(p: Position): string {
  return `${p.commit}-${p.prepare}`;
}

const POSITION_TEXT = /^(-1|\d{1,20})-(-1|\d{1,20})$/;

export function parsePosition(text: string): Position | null {
  const m = POSITION_TEXT.exec(text);
  if (!m) return null;
  return { commit: BigInt(m[1]), prepare: BigInt(m[2]) };
}

export function matchesFilter(filter: { eventTypes?: readonly string[]; eventTypePrefixes?: readonly string[]; streamPrefixes?: readonly string[] } | undefined, type: string, streamId: string): boolean {
  if (!filter) return true;
  const { eventTypes, eventTypePrefixes, streamPrefixes } = filter;
  if (!eventTypes?.length && !eventTypePrefixes?.length && !streamPrefixes?.length) return true;
  if (eventTypes?.includes(type)) return true;
  if (eventTypePrefixes?.some((p) => type.startsWith(p))) return true;
  if (streamPrefixes?.some((p) => streamId.startsWith(p))) return true;
  return false;
}
