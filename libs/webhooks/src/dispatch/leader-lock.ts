import pg from 'pg';

/**
 * A session advisory lock on a dedicated connection: held while the connection lives. Losing the
 * connection loses the lock, so onLost must stop the work at once (another process may take over).
 */
export class LeaderLock {
  private client: pg.Client | null = null;

  constructor(private readonly connectionString: string, private readonly key: string, private readonly onLost: () => void) {}

  get held(): boolean {
    return this.client !== null;
  }

  async tryAcquire(): Promise<boolean> {
    if (this.client) return true;
    const client = new pg.Client({ connectionString: this.connectionString, application_name: `opsledger-lock:${this.key}` });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [this.key]);
      if (!rows[0].ok) {
        await client.end().catch(() => undefined);
        return false;
      }
    } catch {
      await client.end().catch(() => undefined);
      return false;
    }
    const lost = () => {
      if (this.client !== client) return;
      this.client = null;
      this.onLost();
    };
    client.on('error', lost);
    client.on('end', lost);
    this.client = client;
    return true;
  }

  async release(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }
}

/** Runs fn over items with at most `limit` running at once; resolves in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
