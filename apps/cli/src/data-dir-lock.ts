import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isRunning, terminate } from './processes.js';

export const LOCK_FILE = 'opsledger.lock';
const CLI_MARKER = 'apps/cli/src/main.js';

export interface LockInfo {
  pid: number;
  command: 'start' | 'replay';
  startedAt: string;
  /** Child processes of a launcher, so a later start can stop what a killed launcher left behind. */
  children: Record<string, { pid: number; script: string }>;
}

export type AcquireResult = { lock: DataDirLock } | { heldBy: LockInfo };

/** One OpsLedger command (start, or a replay that started PostgreSQL) per data dir at a time. */
export class DataDirLock {
  private constructor(private readonly file: string, private info: LockInfo) {}

  static async acquire(dataDir: string, command: LockInfo['command'], log: (msg: string, extra?: object) => void): Promise<AcquireResult> {
    const file = path.join(dataDir, LOCK_FILE);
    const info: LockInfo = { pid: process.pid, command, startedAt: new Date().toISOString(), children: {} };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(file, JSON.stringify(info), { flag: 'wx', mode: 0o644 });
        return { lock: new DataDirLock(file, info) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const held = readLock(file);
      if (held && held.pid !== process.pid && isRunning(held.pid, CLI_MARKER)) return { heldBy: held };
      // The holder died (kill -9, power loss): stop the children it left running, then take over.
      for (const [name, child] of Object.entries(held?.children ?? {})) {
        if (isRunning(child.pid, child.script)) {
          log(`stopping ${name} left running by an earlier launcher`, { childPid: child.pid });
          await terminate(child.pid, 10_000);
        }
      }
      try {
        unlinkSync(file);
      } catch {
        // another starter removed it first
      }
    }
    const held = readLock(file);
    if (held) return { heldBy: held };
    throw new Error(`could not create ${file}`);
  }

  setChild(name: string, pid: number | null, script: string): void {
    if (pid === null) delete this.info.children[name];
    else this.info.children[name] = { pid, script };
    // Write then rename, so a concurrent reader never sees a half-written file.
    writeFileSync(`${this.file}.${process.pid}`, JSON.stringify(this.info));
    renameSync(`${this.file}.${process.pid}`, this.file);
  }

  release(): void {
    if (readLock(this.file)?.pid !== process.pid) return;
    try {
      unlinkSync(this.file);
    } catch {
      // gone already
    }
  }
}

function readLock(file: string): LockInfo | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}
