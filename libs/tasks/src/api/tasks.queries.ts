import { globToRegExp } from '@app/auth';
import { NotFoundError } from '@app/core';
import type { Pool } from '@app/database';
import { EVENT_STORE, type EventStore, formatPosition } from '@app/event-store';
import { decodeCursor, encodeCursor } from '@app/http';
import { PG_POOL } from '@app/platform';
import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { TASK_EXTERNAL_EVENTS } from '../domain/task.external-events.js';
import type { Priority, TaskStatus } from '../domain/task.events.js';
import { taskStreamId } from '../domain/task-ids.js';
import type { TaskState } from '../domain/task.state.js';
import { statusView } from './task-views.js';
import type { TaskStatusView } from './tasks.dto.js';

/** The task's folded state from the read model; 404 if unknown. */
export class GetTaskQuery extends Query<TaskState> {
  constructor(readonly operationId: string) {
    super();
  }
}

export interface TaskListFilter {
  status?: TaskStatus;
  type?: string;
  priority?: Priority;
  parentId?: string;
  submittedAfter?: string;
  submittedBefore?: string;
  limit: number;
  cursor?: string;
}

export class ListTasksQuery extends Query<{ items: TaskStatusView[]; nextCursor: string | null }> {
  constructor(
    readonly filter: TaskListFilter,
    /** Task type patterns the caller may read; null: all. */
    readonly patterns: string[] | null,
  ) {
    super();
  }
}

export interface TaskEventView {
  type: string;
  internalType: string;
  revision: number;
  position: string;
  timestamp: string;
  data: unknown;
  actor: unknown;
  correlationId: string;
}

export class TaskEventsQuery extends Query<{ operationId: string; items: TaskEventView[] }> {
  constructor(readonly operationId: string, readonly limit: number) {
    super();
  }
}

@QueryHandler(GetTaskQuery)
export class GetTaskHandler implements IQueryHandler<GetTaskQuery> {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ operationId }: GetTaskQuery): Promise<TaskState> {
    const { rows } = await this.pool.query<{ state: TaskState }>({ name: 'tasks-get', text: 'SELECT state FROM tasks WHERE operation_id = $1', values: [operationId] });
    if (!rows[0]) throw new NotFoundError(`task ${operationId} not found`, 'TASK_NOT_FOUND');
    return rows[0].state;
  }
}

const isCursor = (v: unknown): v is [string, string] =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && !Number.isNaN(Date.parse(v[0])) && typeof v[1] === 'string' && v[1].length <= 64;

@QueryHandler(ListTasksQuery)
export class ListTasksHandler implements IQueryHandler<ListTasksQuery> {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ filter, patterns }: ListTasksQuery) {
    if (patterns && patterns.length === 0) return { items: [], nextCursor: null };
    const after = decodeCursor(filter.cursor, isCursor);
    const params: unknown[] = [];
    const where: string[] = [];
    if (after !== undefined) where.push(`(submitted_at, operation_id) < ($${params.push(after[0])}::timestamptz, $${params.push(after[1])})`);
    if (filter.status) where.push(`status = $${params.push(filter.status)}`);
    if (filter.type) where.push(`type = $${params.push(filter.type)}`);
    if (filter.priority) where.push(`priority = $${params.push(filter.priority)}`);
    if (filter.parentId) where.push(`parent_id = $${params.push(filter.parentId)}`);
    if (filter.submittedAfter) where.push(`submitted_at >= $${params.push(filter.submittedAfter)}`);
    if (filter.submittedBefore) where.push(`submitted_at < $${params.push(filter.submittedBefore)}`);
    if (patterns) where.push(`type ~ ANY($${params.push(patterns.map((p) => globToRegExp(p).source))}::text[])`);
    const limit = params.push(filter.limit + 1);
    const { rows } = await this.pool.query<{ operation_id: string; submitted: string; state: TaskState }>(
      `SELECT operation_id, to_char(submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS submitted, state FROM tasks
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY submitted_at DESC, operation_id DESC LIMIT $${limit}`,
      params,
    );
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return { items: page.map((r) => statusView(r.state)), nextCursor: rows.length > filter.limit ? encodeCursor([last.submitted, last.operation_id]) : null };
  }
}

@QueryHandler(TaskEventsQuery)
export class TaskEventsHandler implements IQueryHandler<TaskEventsQuery> {
  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {}

  async execute({ operationId, limit }: TaskEventsQuery) {
    const events = await this.store.readStream(taskStreamId(operationId), { maxCount: limit });
    if (!events.length) throw new NotFoundError(`task ${operationId} not found`, 'TASK_NOT_FOUND');
    const items = events.map((e) => ({
      type: TASK_EXTERNAL_EVENTS[e.type]?.name ?? e.type,
      internalType: e.type,
      revision: Number(e.revision),
      position: formatPosition(e.position),
      timestamp: e.createdAt.toISOString(),
      data: e.data,
      actor: e.metadata.actor,
      correlationId: e.metadata.correlationId,
    }));
    return { operationId, items };
  }
}
