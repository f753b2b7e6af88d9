import { createPool, type Migration, runMigrations } from '@app/database';
import { eventStoreMigrations } from '@app/event-store';
import { projectionMigrations } from '@app/projections';
import { ALL_PROJECTIONS } from '@app/read-models';

/** Every table the api and the process manager expect, in the order they apply them themselves. */
export function allMigrations(): Migration[] {
  return [...eventStoreMigrations, ...projectionMigrations, ...ALL_PROJECTIONS.flatMap((p) => p.migrations)];
}

/** Applied once by the launcher before it starts the children, so they never race to create the schema. */
export async function migrate(databaseUrl: string): Promise<string[]> {
  const pool = createPool(databaseUrl, { max: 1, applicationName: 'opsledger-cli' });
  try {
    return await runMigrations(pool, allMigrations());
  } finally {
    await pool.end();
  }
}
