import { readFileSync } from 'node:fs';

/** True while a process with this pid exists (EPERM: it exists but belongs to another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The process's command line where /proc exists (Linux); null elsewhere or when it is gone. */
export function commandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return null;
  }
}

/** Alive and, where we can tell, running something whose command line contains `marker` (pids get reused). */
export function isRunning(pid: number, marker: string): boolean {
  if (!isAlive(pid)) return false;
  const cmd = commandLine(pid);
  return cmd === null || cmd.includes(marker);
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until the process is gone; false on timeout. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** SIGTERM (or `first`), then SIGKILL if it has not exited within timeoutMs. */
export async function terminate(pid: number, timeoutMs: number, first: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  signal(pid, first);
  if (await waitForExit(pid, timeoutMs)) return;
  signal(pid, 'SIGKILL');
  await waitForExit(pid, 5000);
}
