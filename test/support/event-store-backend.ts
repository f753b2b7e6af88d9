import { type EventStore, formatPosition, type RecordedEvent } from '@app/event-store';
import { EsdbDouble } from '../esdb-double/esdb-double.js';

/** The event stores the whole system runs on in end-to-end suites; read models stay in PostgreSQL. */
export type EventStoreBackend = 'postgres' | 'esdb';

export interface RunningBackend {
  readonly name: EventStoreBackend;
  /** Environment for the api and the process manager, so both use this event store. */
  readonly env: Record<string, string>;
  /** The gRPC test double behind the esdb backend (to stop and restart it); null for postgres. */
  readonly double: EsdbDouble | null;
  stop(): Promise<void>;
}

/** postgres: the default adapter on the test database. esdb: the EventStoreDB adapter against an in-process gRPC double. */
export async function startEventStoreBackend(name: EventStoreBackend): Promise<RunningBackend> {
  if (name === 'postgres') return { name, env: {}, double: null, stop: async () => undefined };
  const double = await EsdbDouble.start();
  return { name, env: { EVENTSTORE_CONNECTION_STRING: double.connectionString }, double, stop: () => double.stop() };
}

/** Where the event log ends, through the port: equal before and after a request that stored nothing. */
export async function eventLogHead(store: EventStore): Promise<string> {
  const head = await store.headPosition();
  return head ? formatPosition(head) : 'empty';
}

/** Every event in the log, through the port (on either adapter), for checks of what was stored. */
export async function allEvents(store: EventStore): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  for (;;) {
    const page = await store.readAll({ fromPosition: events.at(-1)?.position ?? 'start', maxCount: 1000 });
    events.push(...page);
    if (page.length < 1000) return events;
  }
}
