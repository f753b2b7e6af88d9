import { type ChildProcess, spawn } from 'node:child_process';
import readline from 'node:readline';

export interface SupervisorLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ChildSpec {
  name: string;
  /** A node script (dist/apps/<app>/src/main.js). */
  script: string;
  env: NodeJS.ProcessEnv;
  /** Every stdout line, after it was forwarded. */
  onLine?(line: string): void;
  /** Called with the pid on every (re)start, and with null when it exits. */
  onPid?(pid: number | null): void;
}

const MAX_BACKOFF_MS = 30_000;
/** A child that ran this long before dying starts the backoff from the beginning again. */
const HEALTHY_AFTER_MS = 30_000;

/** Runs one node process, forwards its output, restarts it with exponential backoff when it dies unasked. */
export class SupervisedProcess {
  private child: ChildProcess | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private stopping = false;

  constructor(private readonly spec: ChildSpec, private readonly log: SupervisorLog) {}

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  start(): void {
    if (this.stopping) return;
    const startedAt = Date.now();
    // detached: its own process group, so a terminal's Ctrl-C reaches only the launcher, which then
    // stops the children in order (a second signal during Nest's shutdown would kill it outright).
    const child = spawn(process.execPath, [this.spec.script], { env: this.spec.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      process.stdout.write(line + '\n');
      this.spec.onLine?.(line);
    });
    readline.createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(line + '\n'));
    child.on('error', (error) => this.log.error({ child: this.spec.name, err: error }, `${this.spec.name} could not be started`));
    child.once('spawn', () => {
      this.log.info({ child: this.spec.name, childPid: child.pid }, `${this.spec.name} started`);
      this.spec.onPid?.(child.pid!);
    });
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      this.spec.onPid?.(null);
      if (this.stopping) return;
      if (Date.now() - startedAt >= HEALTHY_AFTER_MS) this.failures = 0;
      const delay = Math.min(1000 * 2 ** this.failures, MAX_BACKOFF_MS);
      this.failures++;
      this.log.error({ child: this.spec.name, code, signal, restartInMs: delay }, `${this.spec.name} exited unexpectedly; restarting`);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        this.start();
      }, delay);
    });
  }

  /** SIGTERM, then SIGKILL after timeoutMs; no restart afterwards. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.log.warn({ child: this.spec.name, timeoutMs }, `${this.spec.name} did not stop in time; killing it`);
      child.kill('SIGKILL');
    }, timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}
