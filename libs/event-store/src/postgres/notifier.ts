import pg from 'pg';

export const EVENTS_CHANNEL = 'opsledger_events';

/**
 * Wakes subscribers when events may have become visible: at once for appends made in this process,
 * through LISTEN/NOTIFY for appends made by other processes. NOTIFY is sent after the append's commit
 * (never inside it: a notifying transaction takes a global lock at commit, serialising writers), and
 * coalesced so a burst of appends costs one NOTIFY in flight at a time.
 */
export class EventNotifier {
  private waiters = new Set<() => void>();
  private listener: pg.Client | null = null;
  private notifyInFlight = false;
  private notifyAgain = false;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(private readonly pool: pg.Pool, private readonly connectionString: string) {}

  /** Resolves on the next wake-up or after timeoutMs. */
  wait(timeoutMs: number): { promise: Promise<void>; cancel(): void } {
    let timer: NodeJS.Timeout;
    let wake!: () => void;
    const promise = new Promise<void>((resolve) => {
      wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      timer = setTimeout(wake, timeoutMs);
      this.waiters.add(wake);
    });
    return { promise, cancel: wake };
  }

  wakeLocal(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Called after a commit that wrote events. */
  published(): void {
    this.wakeLocal();
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
      try {
        await this.pool.query(`SELECT pg_notify('${EVENTS_CHANNEL}', '')`);
      } catch {
        // Subscribers fall back to polling; a lost wake-up only delays them.
      }
    } while (this.notifyAgain && !this.closed);
    this.notifyInFlight = false;
  }

  async start(): Promise<void> {
    if (this.listener || this.closed) return;
    const client = new pg.Client({ connectionString: this.connectionString, application_name: 'opsledger-listen' });
    client.on('notification', () => this.wakeLocal());
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
