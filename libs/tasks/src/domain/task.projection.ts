import type { PoolClient } from '@app/database';
import type { RecordedEvent } from '@app/event-store';
import type { Projection } from '@app/projections';
import { TASK_EVENT_TYPES, type TaskEvent } from './task.events.js';
import { evolveTask, initialTaskState, type TaskState } from './task.state.js';

interface Row {
  state: TaskState;
  revision: bigint;
  submittedBy: unknown;
  correlationId: string | null;
}

/**
 * The tasks read model: one row per task with the folded decider state (the process manager starts from it)
 * and the columns the REST queries filter on. A batch costs one read and one upsert, whatever its size.
 */
export const taskProjection: Projection = {
  name: 'tasks',
  eventTypes: TASK_EVENT_TYPES,
  migrations: [
    {
      id: 'tasks/001-tasks',
      sql: `
CREATE TABLE tasks (
  operation_id text COLLATE "C" PRIMARY KEY,
  type text NOT NULL,
  status text NOT NULL,
  priority text NOT NULL,
  attempts int NOT NULL,
  run_at timestamptz NOT NULL,
  submitted_at timestamptz NOT NULL,
  finished_at timestamptz,
  updated_at timestamptz NOT NULL,
  parent_id text,
  submitted_by jsonb,
  correlation_id text,
  revision bigint NOT NULL,
  state jsonb NOT NULL
);
CREATE INDEX tasks_submitted ON tasks (submitted_at, operation_id);
CREATE INDEX tasks_type ON tasks (type, submitted_at, operation_id);
CREATE INDEX tasks_status ON tasks (status, submitted_at, operation_id);
CREATE INDEX tasks_parent ON tasks (parent_id) WHERE parent_id IS NOT NULL;`,
    },
    {
      // Operational, outside the event log and not touched by a rebuild: one lease row per process-manager instance.
      id: 'tasks/002-workers',
      sql: `
CREATE TABLE task_workers (
  worker_id text PRIMARY KEY,
  host text NOT NULL,
  pid int NOT NULL,
  started_at timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL
);`,
    },
    {
      // Large Socket.IO messages between the process manager and the api nodes (the @socket.io/postgres-adapter format).
      id: 'tasks/003-socket-io-attachments',
      sql: `
CREATE TABLE socket_io_attachments (
  id bigserial UNIQUE,
  created_at timestamptz DEFAULT now(),
  payload bytea
);`,
    },
  ],

  async apply(client: PoolClient, events: readonly RecordedEvent[]) {
    const ids = [...new Set(events.map((e) => (e.data as { operationId: string }).operationId))];
    const { rows } = await client.query<{ operation_id: string; state: TaskState; revision: string }>(
      'SELECT operation_id, state, revision FROM tasks WHERE operation_id = ANY($1::text[])',
      [ids],
    );
    const current = new Map<string, Row>(rows.map((r) => [r.operation_id, { state: r.state, revision: BigInt(r.revision), submittedBy: null, correlationId: null }]));
    const changed = new Map<string, Row>();
    for (const recorded of events) {
      const id = (recorded.data as { operationId: string }).operationId;
      const row = changed.get(id) ?? current.get(id) ?? { state: initialTaskState(), revision: -1n, submittedBy: null, correlationId: null };
      if (recorded.revision <= row.revision) continue;
      const state = evolveTask(row.state, { type: recorded.type, data: recorded.data } as TaskEvent);
      const submit = recorded.type === 'TaskSubmitted';
      changed.set(id, {
        state,
        revision: recorded.revision,
        submittedBy: submit ? recorded.metadata.actor : row.submittedBy,
        correlationId: submit ? recorded.metadata.correlationId : row.correlationId,
      });
    }
    if (!changed.size) return;
    const records = [...changed.values()].map(({ state: s, revision, submittedBy, correlationId }) => ({
      operation_id: s.operationId,
      type: s.taskType,
      status: s.status,
      priority: s.priority,
      attempts: s.attempt,
      run_at: s.runAt,
      submitted_at: s.submittedAt,
      finished_at: s.finishedAt,
      updated_at: s.updatedAt,
      parent_id: s.parent?.operationId ?? null,
      submitted_by: submittedBy,
      correlation_id: correlationId,
      revision: revision.toString(),
      state: s,
    }));
    await client.query(
      `INSERT INTO tasks (operation_id, type, status, priority, attempts, run_at, submitted_at, finished_at, updated_at, parent_id, submitted_by, correlation_id, revision, state)
       SELECT operation_id, type, status, priority, attempts, run_at, submitted_at, finished_at, updated_at, parent_id, submitted_by, correlation_id, revision, state
       FROM jsonb_to_recordset($1::jsonb) AS r(operation_id text, type text, status text, priority text, attempts int, run_at timestamptz,
         submitted_at timestamptz, finished_at timestamptz, updated_at timestamptz, parent_id text, submitted_by jsonb, correlation_id text, revision bigint, state jsonb)
       ON CONFLICT (operation_id) DO UPDATE SET status = excluded.status, priority = excluded.priority, attempts = excluded.attempts,
         run_at = excluded.run_at, finished_at = excluded.finished_at, updated_at = excluded.updated_at,
         submitted_by = COALESCE(excluded.submitted_by, tasks.submitted_by),
         correlation_id = COALESCE(excluded.correlation_id, tasks.correlation_id), revision = excluded.revision, state = excluded.state`,
      [JSON.stringify(records)],
    );
  },

  async reset(client: PoolClient) {
    await client.query('TRUNCATE tasks');
  },
};
