import type { Pool } from '@app/database';
import { comparePositions, formatPosition, parsePosition, START, type Position } from '@app/event-store';
import pg from 'pg';
import { readAllCheckpoints } from './checkpoints.js';

export const PROJECTIONS_CHANNEL = 'opsledger_projections';

interface Waiter {
  names: readonly string[];
  position: Position;
  resolve(reached: boolean): void;
  timer: NodeJS.Timeout;
}

/**
 * Knows how far each projection has got, from the runner in this process and, through LISTEN,
 * from runners in other processes; lets a write request wait until its position is projected.
 */
export class ProjectionPositions {
  private readonly positions = new Map<string, Position>();
  private readonly waiters = new Set<Waiter>();
  private listener: pg.Client | null = null;
  private closed = false;

  constructor(private readonly pool: Pool, private readonly connectionString: string) {}

  async start(): Promise<void> {
    await this.listen();
    await this.refresh();
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.connectionString, application_name: 'opsledger-projections-listen' });
    client.on('notification', (msg) => {
      const [name, text] = (msg.payload ?? '').split('|');
      const position = text ? parsePosition(text) : null;
      if (name && position) this.update(name, position);
    });
    const retry = () => {
      if (this.closed || this.listener !== client) return;
      this.listener = null;
      client.removeAllListeners();
      client.on('error', () => undefined);
      void client.end().catch(() => undefined);
      setTimeout(() => void this.listen().then(() => this.refresh()).catch(() => undefined), 500).unref();
    };
    client.on('error', retry);
    client.on('end', retry);
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${PROJECTIONS_CHANNEL}`);
    } catch {
      retry();
    }
  }

  /** Re-reads every checkpoint (after a reconnect, notifications may have been missed). */
  async refresh(): Promise<void> {
    for (const row of await readAllCheckpoints(this.pool)) this.update(row.name, row.position, true);
  }

  get(name: string): Position {
    return this.positions.get(name) ?? START;
  }

  update(name: string, position: Position, force = false): void {
    const known = this.positions.get(name);
    // force: a rebuild moves a checkpoint back.
    if (!force && known && comparePositions(known, position) >= 0) return;
    this.positions.set(name, position);
    for (const waiter of [...this.waiters]) {
      if (this.reached(waiter.names, waiter.position)) {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
        waiter.resolve(true);
      }
    }
  }

  private reached(names: readonly string[], position: Position): boolean {
    return names.every((n) => comparePositions(this.get(n), position) >= 0);
  }

  /** Resolves true once every named projection has reached position, false on timeout. */
  waitFor(names: readonly string[], position: Position, timeoutMs: number): Promise<boolean> {
    if (this.reached(names, position)) return Promise.resolve(true);
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        names,
        position,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  static payload(name: string, position: Position): string {
    return `${name}|${formatPosition(position)}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
    this.waiters.clear();
    const client = this.listener;
    this.listener = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }
}
