import type { Migration, PoolClient } from '@app/database';
import type { RecordedEvent } from '@app/event-store';

/** A read model built from events; apply runs inside the transaction that also stores the checkpoint. */
export interface Projection {
  readonly name: string;
  /** Event types it reads; only these are delivered. */
  readonly eventTypes: readonly string[];
  /** Tables and indexes it owns. */
  readonly migrations: readonly Migration[];
  apply(client: PoolClient, events: readonly RecordedEvent[]): Promise<void>;
  /** Empties its tables before a rebuild from zero. */
  reset(client: PoolClient): Promise<void>;
  /**
   * Under a steady flow of its events, a batch at most this often (ms): after a batch that caught up, the
   * next read waits until this long after that batch began, so a trickle of small batches becomes fewer
   * larger ones. The first events after a quiet spell are applied at once; catching up is not slowed.
   * For a read model nothing waits on in a hurry (delivery history), where per-batch costs dominate.
   */
  readonly batchIntervalMs?: number;
  /** Called after a batch committed (e.g. to drop cache entries); never part of the transaction. */
  afterCommit?(events: readonly RecordedEvent[]): void;
}

export const PROJECTIONS = Symbol('PROJECTIONS');
