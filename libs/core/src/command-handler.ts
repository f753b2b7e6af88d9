import { type EventStore, type ExpectedRevision, type Position, type RecordedEvent, WrongExpectedVersionError } from '@app/event-store';
import { randomUUID } from 'node:crypto';
import { metadataOf, type CommandContext } from './command-context.js';
import { type Decider, type DomainEvent, fold } from './decider.js';

export interface HandleOptions {
  /** A precondition from the caller (If-Match / version): a mismatch fails instead of retrying. */
  expectedRevision?: bigint | 'no_stream';
  /** Retries on a concurrent write when the caller gave no expected revision. */
  maxRetries?: number;
}

export interface HandleResult<State, Event> {
  events: Event[];
  state: State;
  /** The stream's revision after the command (-1n: no stream and nothing written). */
  revision: bigint;
  /** Position of the last event written; null if the command decided nothing. */
  position: Position | null;
}

/** read → fold → decide → append with the expected revision; retried on conflict when allowed. */
export async function handleCommand<Command, State, Event extends DomainEvent>(
  store: EventStore,
  decider: Decider<Command, State, Event>,
  streamId: string,
  command: Command,
  ctx: CommandContext,
  options: HandleOptions = {},
): Promise<HandleResult<State, Event>> {
  const retries = options.expectedRevision === undefined ? (options.maxRetries ?? 20) : 0;
  for (let attempt = 0; ; attempt++) {
    const recorded = await store.readStream(streamId);
    const revision = recorded.length ? recorded[recorded.length - 1].revision : -1n;
    const state = fold(decider, recorded.map(toDomainEvent) as Event[]);
    const precondition = options.expectedRevision;
    if (precondition !== undefined) {
      const wanted = precondition === 'no_stream' ? -1n : precondition;
      if (wanted !== revision) throw new WrongExpectedVersionError(streamId, precondition, revision < 0n ? 'no_stream' : revision);
    }
    const events = decider.decide(command, state);
    if (events.length === 0) return { events, state, revision, position: null };
    const expected: ExpectedRevision = revision < 0n ? 'no_stream' : revision;
    const metadata = metadataOf(ctx);
    try {
      const result = await store.appendToStream(
        streamId,
        events.map((e) => ({ id: randomUUID(), type: e.type, data: e.data, metadata })),
        { expectedRevision: expected },
      );
      const next = events.reduce((s, e) => decider.evolve(s, e), state);
      return { events, state: next, revision: result.nextExpectedRevision, position: result.position };
    } catch (error) {
      if (error instanceof WrongExpectedVersionError && attempt < retries) {
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** attempt)));
        continue;
      }
      throw error;
    }
  }
}

export function toDomainEvent(event: RecordedEvent): DomainEvent {
  return { type: event.type, data: event.data };
}
