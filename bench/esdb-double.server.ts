// Child process of the "event-store esdb" section: an EventStoreDB gRPC test double (test/esdb-double),
// in a process of its own so that the readers and writers measured do not share its event loop.
import { EsdbDouble } from '../test/esdb-double/esdb-double.js';
import { childServe } from './harness.js';

childServe<Record<string, never>, 'connectionString', string>(async () => {
  const double = await EsdbDouble.start();
  return { handle: async () => double.connectionString, close: () => double.stop() };
});
