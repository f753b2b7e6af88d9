import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A compiled entry point; `npm test` builds dist/ first. */
export function distScript(relative: string): string {
  const file = path.join(ROOT, 'dist', relative);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` (npm test does) before these tests`);
  return file;
}

/** The environment minus everything OpsLedger reads, so a developer's settings do not leak into a test. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(OPSLEDGER_|DATABASE_URL$|EVENTSTORE_|PORT$|HOST$|LOG_LEVEL$|NODE_OPTIONS$|TEST_DATABASE)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  stdout: string[];
  stderr: string[];
  exited: Promise<Exit>;
  /** Resolves with the first stdout line (from index `from` on) that matches; rejects on exit or timeout. */
  waitForLine(match: (line: string) => boolean, timeoutMs: number, from?: number): Promise<string>;
  /** Sends the signal and waits for the exit (SIGKILL after timeoutMs, and the test then fails on the exit). */
  stop(signal: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
}

export function spawnProcess(command: string, args: string[], env: NodeJS.ProcessEnv): Spawned {
  const child = spawn(command, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const listeners = new Set<() => void>();
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    stdout.push(line);
    for (const l of listeners) l();
  });
  readline.createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  // 'close', not 'exit': by then every line of output has been read.
  const exited = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
    for (const l of listeners) l();
  });
  const tail = () => `\n--- stdout ---\n${stdout.slice(-15).join('\n')}\n--- stderr ---\n${stderr.slice(-15).join('\n')}`;

  return {
    child,
    pid: child.pid!,
    stdout,
    stderr,
    exited,
    waitForLine(match, timeoutMs, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = stdout.slice(from).find(match);
          if (found !== undefined) finish(() => resolve(found));
          else if (hasExited) finish(() => reject(new Error(`process exited before the expected line${tail()}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`no expected line within ${timeoutMs} ms${tail()}`))), timeoutMs);
        const finish = (then: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          then();
        };
        listeners.add(check);
        check();
      });
    },
    async stop(signal, timeoutMs = 30_000) {
      if (!hasExited) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const exit = await exited;
      clearTimeout(timer);
      return exit;
    },
  };
}

export function spawnNode(script: string, args: string[], env: NodeJS.ProcessEnv): Spawned {
  return spawnProcess(process.execPath, [script, ...args], env);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
