import type { Pool } from '@app/database';
import { randomBytes } from 'node:crypto';
import os from 'node:os';

/**
 * One lease per process-manager instance, renewed in the task_workers table (no event per heartbeat).
 * Every attempt names its worker, so an attempt's lease is its worker's: a worker whose row is older
 * than the lease is dead and its attempts are retried elsewhere. A worker that cannot renew stops its
 * attempts itself before others may take them over (fencing by time).
 */
export class WorkerLease {
  readonly workerId = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private lastRenewal = 0;
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    readonly leaseMs: number,
    /** Called when the lease is (or may be) lost: running attempts must stop. */
    private readonly onLost: () => void,
  ) {}

  /** Claiming is allowed only while the lease was renewed recently enough. */
  get healthy(): boolean {
    return !this.stopped && Date.now() - this.lastRenewal < this.leaseMs * 0.5;
  }

  async start(): Promise<void> {
    await this.register();
    this.timer = setInterval(() => {
      // Watchdog first: a renewal that hangs must not keep attempts running past the point others may take them.
      if (Date.now() - this.lastRenewal > this.leaseMs * 0.6) this.onLost();
      this.renewing ??= this.renew().finally(() => (this.renewing = null));
    }, Math.max(100, Math.floor(this.leaseMs / 5)));
  }

  private async register(): Promise<void> {
    await this.pool.query(
      `INSERT INTO task_workers (worker_id, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, now(), now())
       ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = now()`,
      [this.workerId, os.hostname(), process.pid],
    );
    this.lastRenewal = Date.now();
  }

  private async renew(): Promise<void> {
    const started = Date.now();
    try {
      const { rowCount } = await this.pool.query('UPDATE task_workers SET heartbeat_at = now() WHERE worker_id = $1', [this.workerId]);
      if (rowCount === 0) {
        // Another instance declared us dead (we were away longer than the lease): our attempts are theirs now.
        this.onLost();
        await this.register();
        return;
      }
      this.lastRenewal = started;
    } catch {
      // The watchdog stops the attempts if this goes on.
    }
  }

  /** Workers whose lease is current, by the database clock. */
  async liveWorkers(): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ worker_id: string }>(
      `SELECT worker_id FROM task_workers WHERE heartbeat_at > now() - make_interval(secs => $1::double precision / 1000)`,
      [this.leaseMs],
    );
    return new Set(rows.map((r) => r.worker_id));
  }

  /** Forgets workers that have been dead for a long time. */
  async sweep(): Promise<void> {
    await this.pool.query(`DELETE FROM task_workers WHERE heartbeat_at < now() - make_interval(secs => $1::double precision / 1000)`, [
      Math.max(3_600_000, this.leaseMs * 10),
    ]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.renewing?.catch(() => undefined);
    await this.pool.query('DELETE FROM task_workers WHERE worker_id = $1', [this.workerId]).catch(() => undefined);
  }
}
