import type { Migration } from '@app/database';

export const projectionMigrations: Migration[] = [
  {
    id: 'projections/001-checkpoints',
    sql: `
CREATE TABLE projection_checkpoints (
  name text PRIMARY KEY,
  position_commit bigint NOT NULL DEFAULT -1,
  position_prepare bigint NOT NULL DEFAULT -1,
  events_applied bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);`,
  },
];
