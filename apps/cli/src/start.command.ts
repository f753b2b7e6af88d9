import { ensureDatabase } from '@app/database';
import { createLogger } from '@app/http';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliConfig } from './cli-config.js';
import { DataDirLock } from './data-dir-lock.js';
import { type EmbeddedCluster, startEmbeddedCluster } from './embedded-cluster.js';
import { migrate } from './migrations.js';
import { SupervisedProcess } from './supervisor.js';

const CHILD_STOP_TIMEOUT_MS = 10_000;
const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const APP_SCRIPTS = {
  api: path.join(DIST, 'apps/api/src/main.js'),
  'process-manager': path.join(DIST, 'apps/process-manager/src/main.js'),
} as const;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Where the owner token's secret is, as far as this start can tell. */
function ownerTokenLocation(dataDir: string, fromEnv: boolean): string {
  const file = path.join(dataDir, 'owner-token');
  if (existsSync(file) || !fromEnv) return file;
  return 'from OPSLEDGER_OWNER_TOKEN';
}

/**
 * `opsledger start`: PostgreSQL (embedded unless DATABASE_URL is set), migrations, then the api and the
 * process manager as supervised child processes. A signal stops the children, then PostgreSQL; exit 0.
 */
export async function startCommand({ config, embeddedPgPort }: CliConfig): Promise<number> {
  const log = createLogger(config.LOG_LEVEL, 'opsledger-launcher');
  const dataDir = path.resolve(config.OPSLEDGER_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });

  let requestStop!: (reason: string) => void;
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // npm forwards the terminal's SIGINT too, so a second signal is expected and changes nothing.
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    requestStop(signal);
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);

  const acquired = await DataDirLock.acquire(dataDir, 'start', (msg, extra) => log.warn(extra ?? {}, msg));
  if ('heldBy' in acquired) {
    log.error({ holderPid: acquired.heldBy.pid, dataDir }, `another opsledger ${acquired.heldBy.command} (pid ${acquired.heldBy.pid}) is using ${dataDir}`);
    for (const signal of SIGNALS) process.off(signal, onSignal);
    return 1;
  }
  const lock = acquired.lock;
  let cluster: EmbeddedCluster | null = null;
  const children: SupervisedProcess[] = [];
  let exitCode = 0;
  try {
    let databaseUrl = config.DATABASE_URL;
    if (!databaseUrl) {
      cluster = await startEmbeddedCluster({ dataDir, port: embeddedPgPort, log });
      databaseUrl = await ensureDatabase(cluster.serverUrl, 'opsledger');
      void cluster.unexpectedExit.then(() => {
        log.error({ log: path.join(dataDir, 'postgres.log') }, 'PostgreSQL exited unexpectedly; stopping');
        exitCode = 1;
        stopping = true;
        requestStop('postgres exited');
      });
    }
    if (!stopping) {
      const applied = await migrate(databaseUrl);
      if (applied.length) log.info({ applied }, 'migrations applied');
      const env = { ...process.env, DATABASE_URL: databaseUrl, OPSLEDGER_DATA_DIR: dataDir };
      const onApiLine = (line: string) => {
        if (!line.includes('"api listening"')) return;
        const { url } = JSON.parse(line) as { url: string };
        const tokenNow = ownerTokenLocation(dataDir, Boolean(config.OPSLEDGER_OWNER_TOKEN));
        // Printed whatever LOG_LEVEL says, like the api's own line: scripts and tests wait for it.
        process.stdout.write(JSON.stringify({ msg: 'opsledger ready', url, docs: `${url}/docs`, ownerToken: tokenNow, dataDir, database: cluster ? 'embedded' : 'DATABASE_URL' }) + '\n');
        process.stderr.write(`\nOpsLedger is running at ${url}  (OpenAPI: ${url}/docs)\nOwner token: ${tokenNow}\nPress Ctrl-C to stop.\n\n`);
      };
      for (const [name, script] of Object.entries(APP_SCRIPTS)) {
        const child = new SupervisedProcess(
          { name, script, env, onLine: name === 'api' ? onApiLine : undefined, onPid: (pid) => lock.setChild(name, pid, script) },
          log,
        );
        children.push(child);
        child.start();
      }
    }
    await stopRequested;
  } catch (error) {
    log.error({ err: error }, `start failed: ${(error as Error).message}`);
    exitCode = 1;
  } finally {
    await Promise.all(children.map((c) => c.stop(CHILD_STOP_TIMEOUT_MS)));
    if (cluster) {
      await cluster.stop();
      log.info({}, 'PostgreSQL stopped');
    }
    lock.release();
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
  log.info({ exitCode }, 'stopped');
  return exitCode;
}
