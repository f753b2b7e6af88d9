import pg from 'pg';

export const EVENTS_CHANNEL = 'opsledger_events';

/** Which appended event types wake a waiter (exact names or name prefixes); null: every wake-up (no filter, or a stream filter). */
export type WakeFilter = { types: ReadonlySet<string>; prefixes: readonly string[] } | null;

/** Above this many distinct types since the last NOTIFY, it wakes everyone instead of naming them. */
const MAX_NAMED_TYPES = 64;

function wakes(filter: WakeFilter, types: readonly string[] | null): boolean {
  if (!filter || !types) return true;
  return types.some((t) => filter.types.has(t) || filter.prefixes.some((p) => t.startsWith(p)));
}

/**
 * Wakes subscribers when events may have become visible: at once for appends made in this process,
 * through LISTEN/NOTIFY for appends made by other processes. NOTIFY is sent after the append's commit
 * (never inside it: a notifying transaction takes a global lock at commit, serialising writers), and
 * coalesced so a burst of appends costs one NOTIFY in flight at a time. The wake-up names the event types
 * appended since the last one (a JSON array; empty payload: any), and wakes only the subscribers whose type
 * filter takes one of them: a projection of other events does not read a page for every append (it still
 * polls, and so moves past what it skips, every poll interval).
 */
export class EventNotifier {
  private waiters = new Map<() => void, WakeFilter>();
  private listener: pg.Client | null = null;
  private notifyInFlight = false;
  private notifyAgain = false;
  /** Types appended since the last NOTIFY was sent; null: too many, or unknown (wake everyone). */
  private unsent: Set<string> | null = new Set();
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(private readonly pool: pg.Pool, private readonly connectionString: string) {}

  /** Resolves on the next wake-up that concerns `filter`, or after timeoutMs. */
  wait(timeoutMs: number, filter: WakeFilter = null): { promise: Promise<void>; cancel(): void } {
    let timer: NodeJS.Timeout;
    let wake!: () => void;
    const promise = new Promise<void>((resolve) => {
      wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      timer = setTimeout(wake, timeoutMs);
      this.waiters.set(wake, filter);
    });
    return { promise, cancel: wake };
  }

  wakeLocal(types: readonly string[] | null = null): void {
    for (const [wake, filter] of [...this.waiters]) if (wakes(filter, types)) wake();
  }

  /** Called after a commit that wrote events of these types (undefined: unknown, wake everyone). */
  published(types?: Iterable<string>): void {
    const named = types ? [...new Set(types)] : null;
    this.wakeLocal(named);
    if (!named) this.unsent = null;
    else if (this.unsent) {
      for (const t of named) this.unsent.add(t);
      if (this.unsent.size > MAX_NAMED_TYPES) this.unsent = null;
    }
    if (this.notifyInFlight) {
      this.notifyAgain = true;
      return;
    }
    this.notifyInFlight = true;
    void this.sendNotify();
  }

  private async sendNotify(): Promise<void> {
    do {
      this.notifyAgain = false;
      const payload = this.unsent ? JSON.stringify([...this.unsent]) : '';
      this.unsent = new Set();
      try {
        await this.pool.query(`SELECT pg_notify('${EVENTS_CHANNEL}', $1)`, [payload.length < 7000 ? payload : '']);
      } catch {
        // Subscribers fall back to polling; a lost wake-up only delays them.
      }
    } while (this.notifyAgain && !this.closed);
    this.notifyInFlight = false;
  }

  async start(): Promise<void> {
    if (this.listener || this.closed) return;
    const client = new pg.Client({ connectionString: this.connectionString, application_name: 'opsledger-listen' });
    client.on('notification', (message) => this.wakeLocal(parseTypes(message.payload)));
    client.on('error', () => this.scheduleReconnect());
    client.on('end', () => this.scheduleReconnect());
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
      this.wakeLocal();
    } catch {
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const old = this.listener;
    this.listener = null;
    old?.removeAllListeners();
    old?.on('error', () => undefined);
    void old?.end().catch(() => undefined);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.start();
    }, 500);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.wakeLocal();
    const client = this.listener;
    this.listener = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }
}

function parseTypes(payload: string | undefined): string[] | null {
  if (!payload) return null;
  try {
    const types: unknown = JSON.parse(payload);
    return Array.isArray(types) && types.every((t) => typeof t === 'string') ? types : null;
  } catch {
    return null;
  }
}
