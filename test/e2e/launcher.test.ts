import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, distScript, eventually, isAlive, spawnNode, spawnProcess, type Spawned } from '../support/processes.js';

// Real processes: `node dist/apps/cli/src/main.js start` with its embedded PostgreSQL, api and process manager.
const TIMEOUT = 180_000;

const CLI = distScript('apps/cli/src/main.js');
let root: string;
let dataDir: string;

interface Ready {
  url: string;
  ownerToken: string;
}

function launcherEnv(extra: Record<string, string> = {}) {
  return cleanEnv({ OPSLEDGER_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...extra });
}

async function ready(launcher: Spawned, from = 0): Promise<Ready> {
  const line = await launcher.waitForLine((l) => l.includes('"opsledger ready"'), 90_000, from);
  return JSON.parse(line) as Ready;
}

async function call(url: string, method: string, p: string, token: string | null, body?: unknown) {
  const res = await fetch(url.replace(/\/api$/, '') + p, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

function lockFile(dir = dataDir) {
  return JSON.parse(readFileSync(path.join(dir, 'opsledger.lock'), 'utf8')) as { pid: number; children: Record<string, { pid: number }> };
}

function postgresPid(dir = dataDir): number {
  return Number(readFileSync(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** After a failed test: what a SIGKILLed launcher leaves behind (children, PostgreSQL) must not outlive the run. */
function stopLeftovers(dir = dataDir): void {
  const pids: [number, NodeJS.Signals][] = [];
  try {
    for (const child of Object.values(lockFile(dir).children)) pids.push([child.pid, 'SIGKILL']);
  } catch {
    // no lock file: nothing was started, or it stopped cleanly
  }
  try {
    pids.push([postgresPid(dir), 'SIGINT']);
  } catch {
    // not running
  }
  for (const [pid, signal] of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

beforeAll(() => {
  // mkdtemp makes a 0700 folder: as root, the launcher must open the way for the postgres user.
  root = mkdtempSync(path.join(os.tmpdir(), 'opsledger-launcher-'));
  dataDir = path.join(root, 'data');
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

test('a bad configuration value exits 2 with a message naming the variable', () => {
  const port = spawnSync(process.execPath, [CLI, 'start'], { env: launcherEnv({ PORT: 'abc' }), encoding: 'utf8' });
  expect(port.status).toBe(2);
  expect(port.stderr).toMatch(/PORT="abc"/);
  const pgPort = spawnSync(process.execPath, [CLI, 'start'], { env: launcherEnv({ OPSLEDGER_EMBEDDED_PG_PORT: '99999' }), encoding: 'utf8' });
  expect(pgPort.status).toBe(2);
  expect(pgPort.stderr).toMatch(/OPSLEDGER_EMBEDDED_PG_PORT/);
  const help = spawnSync(process.execPath, [CLI, '--help'], { env: launcherEnv(), encoding: 'utf8' });
  expect(help.status).toBe(0);
  expect(help.stdout).toMatch(/replay <projection>/);
  expect(existsSync(dataDir)).toBe(false);
});

test('start runs PostgreSQL, the api and the process manager; restarts a dead child; Ctrl-C stops everything', async () => {
  const launcher = spawnNode(CLI, ['start'], launcherEnv());
  try {
    const { url, ownerToken } = await ready(launcher);
    expect(ownerToken).toBe(path.join(dataDir, 'owner-token'));
    expect(statSync(ownerToken).mode & 0o777).toBe(0o600);
    const token = readFileSync(ownerToken, 'utf8').trim();

    expect((await call(url, 'GET', '/api/health', null)).status).toBe(200);
    expect((await call(url, 'POST', '/api/key-value', null, { key: 'launcher/first', value: 1 })).status).toBe(401);
    const created = await call(url, 'POST', '/api/key-value', token, { key: 'launcher/first', value: { run: 1 } });
    expect(created).toMatchObject({ status: 201, body: { key: 'launcher/first', value: { run: 1 }, version: 1 } });
    expect((await call(url, 'GET', '/api/application-tokens', token)).body.items.map((t: { id: string }) => t.id)).toContain('owner');

    // kill -9 of the api: the launcher starts a new one, which announces itself again.
    const { api, 'process-manager': pm } = lockFile().children;
    const seen = launcher.stdout.length;
    process.kill(api.pid, 'SIGKILL');
    const again = await ready(launcher, seen);
    expect((await call(again.url, 'GET', '/api/key-value/launcher%2Ffirst', token)).body.value).toEqual({ run: 1 });
    const restartedApi = lockFile().children.api.pid;
    expect(restartedApi).not.toBe(api.pid);

    const pg = postgresPid();
    const exit = await launcher.stop('SIGINT');
    expect(exit).toEqual({ code: 0, signal: null });
    for (const pid of [pg, restartedApi, pm.pid]) expect(isAlive(pid)).toBe(false);
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'opsledger.lock'))).toBe(false);
    expect(launcher.stdout.join('\n')).toMatch(/api exited unexpectedly; restarting/);
  } finally {
    if ((await launcher.stop('SIGKILL')).signal) stopLeftovers();
  }
}, TIMEOUT);

test('a second start on the same data dir keeps the data; replay works beside it and alone', async () => {
  const launcher = spawnNode(CLI, ['start'], launcherEnv());
  let stopped = false;
  try {
    const { url, ownerToken } = await ready(launcher);
    const token = readFileSync(ownerToken, 'utf8').trim();
    const entry = await call(url, 'GET', '/api/key-value/launcher%2Ffirst', token);
    expect(entry).toMatchObject({ status: 200, body: { value: { run: 1 }, version: 1 } });
    expect((await call(url, 'PUT', '/api/key-value/launcher%2Ffirst', token, { value: { run: 2 }, version: 1 })).status).toBe(200);

    // Beside a running launcher: uses its PostgreSQL, the api leads the rebuild, the CLI watches.
    const beside = spawnSync(process.execPath, [CLI, 'replay', 'key-value'], { env: launcherEnv(), encoding: 'utf8', timeout: 60_000 });
    expect(beside.stderr).toBe('');
    expect(beside.status).toBe(0);
    expect(beside.stdout).toMatch(/key-value: rebuilt 2 events/);
    expect((await call(url, 'GET', '/api/key-value/launcher%2Ffirst', token)).body).toMatchObject({ value: { run: 2 }, version: 2 });
    const pg = postgresPid();
    expect(isAlive(pg)).toBe(true);

    expect(await launcher.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    stopped = true;
    expect(isAlive(pg)).toBe(false);

    // Alone: starts the embedded PostgreSQL itself, rebuilds, stops it again.
    const alone = spawnSync(process.execPath, [CLI, 'replay', '--all'], { env: launcherEnv(), encoding: 'utf8', timeout: 60_000 });
    expect(alone.status).toBe(0);
    expect(alone.stdout).toMatch(/application-tokens: rebuilt 1 events/);
    expect(alone.stdout).toMatch(/key-value: rebuilt 2 events/);
    expect(alone.stdout).toMatch(/replay done: 3 events in [\d.]+ s, \d+ events\/s/);
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
  } finally {
    if (!stopped && (await launcher.stop('SIGKILL')).signal) stopLeftovers();
  }
}, TIMEOUT);

const asRoot = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
(asRoot ? test : test.skip)('start works as a normal user too (no postgres user, no chown)', async () => {
  const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }));
  const home = mkdtempSync(path.join(os.tmpdir(), 'opsledger-user-'));
  chownSync(home, uid, gid);
  const userData = path.join(home, 'data');
  const launcher = spawnProcess('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', process.execPath, CLI, 'start'], launcherEnv({ OPSLEDGER_DATA_DIR: userData }));
  try {
    const { url } = await ready(launcher);
    expect((await call(url, 'GET', '/api/health', null)).status).toBe(200);
    expect(statSync(path.join(userData, 'postgres')).uid).toBe(uid);
    const pg = postgresPid(userData);
    expect(await launcher.stop('SIGINT')).toEqual({ code: 0, signal: null });
    await eventually(async () => !isAlive(pg), 5000, 'PostgreSQL to stop');
  } finally {
    if ((await launcher.stop('SIGKILL')).signal) stopLeftovers(userData);
    rmSync(home, { recursive: true, force: true });
  }
}, TIMEOUT);
