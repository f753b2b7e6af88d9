import { createPool, runMigrations } from '@app/database';
import { createTestDatabase } from '../../../../test/support/database.js';
import { describeEventStoreContract } from '../contract/event-store.contract.js';
import { PostgresEventStore } from './postgres-event-store.js';
import { eventStoreMigrations } from './schema.js';

describeEventStoreContract('postgres', async () => {
  const db = await createTestDatabase('es_contract');
  const pool = createPool(db.url);
  await runMigrations(pool, eventStoreMigrations);
  const store = new PostgresEventStore(pool, { connectionString: db.url });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await pool.end();
      await db.drop();
    },
  };
});
