import type { Pool, PoolClient } from '@app/database';
import { START, type Position } from '@app/event-store';

export interface CheckpointRow {
  name: string;
  position: Position;
  eventsApplied: bigint;
  updatedAt: Date;
}

export async function readCheckpoint(db: Pool | PoolClient, name: string): Promise<Position> {
  const { rows } = await db.query<{ c: string; p: string }>(
    'SELECT position_commit AS c, position_prepare AS p FROM projection_checkpoints WHERE name = $1',
    [name],
  );
  return rows[0] ? { commit: BigInt(rows[0].c), prepare: BigInt(rows[0].p) } : START;
}

export async function readAllCheckpoints(db: Pool): Promise<CheckpointRow[]> {
  const { rows } = await db.query<{ name: string; c: string; p: string; n: string; updated_at: Date }>(
    'SELECT name, position_commit AS c, position_prepare AS p, events_applied AS n, updated_at FROM projection_checkpoints ORDER BY name',
  );
  return rows.map((r) => ({ name: r.name, position: { commit: BigInt(r.c), prepare: BigInt(r.p) }, eventsApplied: BigInt(r.n), updatedAt: r.updated_at }));
}

export async function resetCheckpoint(client: PoolClient, name: string): Promise<void> {
  await client.query(
    `INSERT INTO projection_checkpoints (name, position_commit, position_prepare, events_applied) VALUES ($1, -1, -1, 0)
     ON CONFLICT (name) DO UPDATE SET position_commit = -1, position_prepare = -1, events_applied = 0, updated_at = now()`,
    [name],
  );
}

/**
 * Moves a projection's checkpoint from `from` to `to` in one statement (locking the row until the
 * transaction ends); false when the stored checkpoint is not `from` (another runner or a rebuild moved it).
 */
export async function advanceCheckpoint(client: PoolClient, name: string, from: Position, to: Position, applied: number): Promise<boolean> {
  const { rowCount } = await client.query(
    `INSERT INTO projection_checkpoints (name, position_commit, position_prepare, events_applied, updated_at)
     VALUES ($1, $2, $3, $4, now())
     ON CONFLICT (name) DO UPDATE SET position_commit = $2, position_prepare = $3,
       events_applied = projection_checkpoints.events_applied + $4, updated_at = now()
     WHERE projection_checkpoints.position_commit = $5 AND projection_checkpoints.position_prepare = $6`,
    [name, to.commit.toString(), to.prepare.toString(), applied, from.commit.toString(), from.prepare.toString()],
  );
  return rowCount === 1;
}
