import { describeEventStoreContract } from '../contract/event-store.contract.js';
import { EsdbEventStore } from './esdb-event-store.js';

// The same contract against a real EventStoreDB, e.g. EVENTSTORE_CONNECTION_STRING=esdb://127.0.0.1:2113?tls=false
// (docker run -p 2113:2113 eventstore/eventstore --insecure). The tests use their own streams, so a shared server works.
const connectionString = process.env.EVENTSTORE_CONNECTION_STRING;

if (connectionString) {
  describeEventStoreContract(`esdb (real server at ${connectionString})`, async () => {
    const store = EsdbEventStore.fromConnectionString(connectionString);
    return { store, cleanup: () => store.close() };
  });
} else {
  console.log('EVENTSTORE_CONNECTION_STRING is not set: skipping the event store contract suite against a real EventStoreDB');
  test.skip('event store contract against a real EventStoreDB (set EVENTSTORE_CONNECTION_STRING)', () => undefined);
}
