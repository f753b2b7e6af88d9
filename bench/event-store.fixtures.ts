import type { NewEvent } from '@app/event-store';
import { randomUUID } from 'node:crypto';

/** The events a command handler of the key-value store would write: realistic data and full metadata. */
export function benchEvent(streamId: string, n: number): NewEvent {
  const id = randomUUID();
  return {
    id,
    type: 'KeyValueEntrySet',
    data: {
      key: `ci/${streamId}`,
      value: { status: 'passed', build: n, branch: 'main', tags: ['bench', 'ci'], url: `https://ci.example.com/builds/${n}` },
      tags: ['bench'],
      expiresAt: null,
    },
    metadata: {
      actor: { kind: 'token', id: 'tok_01JBENCH0000000000000000' },
      correlationId: id,
      causationId: id,
      requestId: `req-${n}`,
      ip: '127.0.0.1',
    },
  };
}
