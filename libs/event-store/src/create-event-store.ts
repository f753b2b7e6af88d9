import type pg from 'pg';
import { EsdbEventStore } from './esdb/esdb-event-store.js';
import { PostgresEventStore } from './postgres/postgres-event-store.js';
import type { EventStore } from './types.js';

export interface EventStoreConfig {
  /** EVENTSTORE_CONNECTION_STRING: when set, EventStoreDB is the event store. */
  eventStoreConnectionString?: string;
  /** Otherwise the PostgreSQL adapter runs on this pool (its migrations must have run). */
  pool: pg.Pool;
  /** The pool's connection string, for the adapter's LISTEN connection. */
  databaseUrl: string;
}

export function createEventStore(config: EventStoreConfig): EventStore {
  if (config.eventStoreConnectionString) return EsdbEventStore.fromConnectionString(config.eventStoreConnectionString);
  return new PostgresEventStore(config.pool, { connectionString: config.databaseUrl });
}
