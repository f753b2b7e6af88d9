import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** A fresh, empty database on the test server; dropped by the returned cleanup. */
export async function createTestDatabase(label = 'test'): Promise<{ url: string; drop(): Promise<void> }> {
  const server = process.env.TEST_DATABASE_SERVER_URL;
  if (!server) throw new Error('TEST_DATABASE_SERVER_URL is not set (jest globalSetup starts PostgreSQL)');
  const name = `${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: server });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}
