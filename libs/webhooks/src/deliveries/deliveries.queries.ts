import { NotFoundError } from '@app/core';
import type { Pool } from '@app/database';
import { decodeCursor, encodeCursor } from '@app/http';
import { PG_POOL } from '@app/platform';
import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';

export interface AttemptView {
  attempt: number;
  at: string;
  durationMs: number;
  statusCode: number | null;
  response: string | null;
  error: string | null;
  outcome: string;
  nextAttemptAt: string | null;
}

export interface DeliveryView {
  id: string;
  endpointId: string;
  webhookId: string;
  eventType: string;
  sourceEventId: string | null;
  replayId: string | null;
  test: boolean;
  status: string;
  attemptCount: number;
  nextAttemptAt: string | null;
  createdAt: string;
  completedAt: string | null;
  attempts: AttemptView[];
  payload?: unknown;
}

type Row = Record<string, any>;
const iso = (d: Date | null) => d?.toISOString() ?? null;

function attemptView(r: Row): AttemptView {
  return { attempt: r.attempt, at: r.started_at.toISOString(), durationMs: r.duration_ms, statusCode: r.status_code, response: r.response, error: r.error, outcome: r.outcome, nextAttemptAt: iso(r.next_attempt_at) };
}

function view(r: Row, attempts: Row[]): DeliveryView {
  return {
    id: r.delivery_id,
    endpointId: r.endpoint_id,
    webhookId: r.message_id,
    eventType: r.event_type,
    sourceEventId: r.source_event_id,
    replayId: r.replay_id,
    test: r.test,
    status: r.status,
    attemptCount: r.attempts,
    nextAttemptAt: iso(r.next_attempt_at),
    createdAt: r.created_at.toISOString(),
    completedAt: iso(r.completed_at),
    attempts: attempts.filter((a) => a.delivery_id === r.delivery_id).map(attemptView),
  };
}

async function attemptsOf(pool: Pool, ids: string[]): Promise<Row[]> {
  if (!ids.length) return [];
  const { rows } = await pool.query('SELECT * FROM webhook_delivery_attempts WHERE delivery_id = ANY($1::uuid[]) ORDER BY delivery_id, attempt', [ids]);
  return rows;
}

export class ListDeliveriesQuery extends Query<{ items: DeliveryView[]; nextCursor: string | null }> {
  constructor(readonly endpointId: string, readonly filter: { status?: string; limit: number; cursor?: string }) {
    super();
  }
}

export class GetDeliveryQuery extends Query<DeliveryView> {
  constructor(readonly deliveryId: string) {
    super();
  }
}

const isCursor = (v: unknown): v is [string, string] => Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string');
const COLUMNS = 'delivery_id, endpoint_id, message_id, event_type, source_event_id, replay_id, test, status, attempts, next_attempt_at, created_at, completed_at';
/**
 * Deliveries not attempted yet exist only as queue rows (their stream starts with the first outcome): the
 * same columns from the row and what its Scheduled event will say. Once the row moves on (revision ≥ 0) the
 * delivery is read from the read model.
 */
const QUEUED_COLUMNS = `q.delivery_id, q.endpoint_id, q.message_id, q.payload->>'type' AS event_type, (q.scheduled->>'sourceEventId')::uuid AS source_event_id,
  q.scheduled->>'replayId' AS replay_id, coalesce((q.scheduled->>'test')::boolean, false) AS test, q.status, q.attempts, q.next_attempt_at, q.created_at, NULL::timestamptz AS completed_at`;

@QueryHandler(ListDeliveriesQuery)
export class ListDeliveriesHandler implements IQueryHandler<ListDeliveriesQuery> {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ endpointId, filter }: ListDeliveriesQuery) {
    const exists = await this.pool.query('SELECT 1 FROM webhook_endpoints WHERE endpoint_id = $1', [endpointId]);
    if (!exists.rowCount) throw new NotFoundError(`webhook endpoint ${endpointId.slice(0, 64)} not found`, 'WEBHOOK_NOT_FOUND');
    const after = decodeCursor(filter.cursor, isCursor);
    const params: unknown[] = [endpointId, filter.limit + 1];
    const status = filter.status ? `$${params.push(filter.status)}` : null;
    const cursor = after ? [`$${params.push(after[0])}::timestamptz`, `$${params.push(after[1])}::uuid`] : null;
    // Newest first; created_at is kept to the microsecond in the cursor (its text form), so paging never skips a row.
    const where = (t: string) =>
      [`${t}.endpoint_id = $1`, status && `${t}.status = ${status}`, cursor && `(${t}.created_at, ${t}.delivery_id) < (${cursor[0]}, ${cursor[1]})`].filter(Boolean).join(' AND ');
    const { rows } = await this.pool.query(
      `SELECT ${COLUMNS}, created_at::text AS created_text FROM (
         (SELECT ${COLUMNS} FROM webhook_deliveries d WHERE ${where('d')} ORDER BY d.created_at DESC, d.delivery_id DESC LIMIT $2)
         UNION ALL
         (SELECT ${QUEUED_COLUMNS} FROM webhook_queue q WHERE ${where('q')} AND q.revision < 0 AND q.status = 'pending'
            AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.delivery_id = q.delivery_id)
          ORDER BY q.created_at DESC, q.delivery_id DESC LIMIT $2)
       ) page ORDER BY created_at DESC, delivery_id DESC LIMIT $2`,
      params,
    );
    const page = rows.slice(0, filter.limit);
    const attempts = await attemptsOf(this.pool, page.map((r) => r.delivery_id));
    const last = page[page.length - 1];
    return { items: page.map((r) => view(r, attempts)), nextCursor: rows.length > filter.limit ? encodeCursor([last.created_text, last.delivery_id]) : null };
  }
}

@QueryHandler(GetDeliveryQuery)
export class GetDeliveryHandler implements IQueryHandler<GetDeliveryQuery> {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ deliveryId }: GetDeliveryQuery): Promise<DeliveryView> {
    let { rows } = await this.pool.query(`SELECT ${COLUMNS}, payload FROM webhook_deliveries WHERE delivery_id = $1`, [deliveryId]);
    if (!rows[0]) ({ rows } = await this.pool.query(`SELECT ${QUEUED_COLUMNS}, q.payload FROM webhook_queue q WHERE q.delivery_id = $1 AND q.revision < 0 AND q.status = 'pending'`, [deliveryId]));
    if (!rows[0]) throw new NotFoundError(`delivery ${deliveryId} not found`, 'DELIVERY_NOT_FOUND');
    return { ...view(rows[0], await attemptsOf(this.pool, [deliveryId])), payload: rows[0].payload };
  }
}
