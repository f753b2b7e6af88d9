import { globToRegExp } from '@app/auth';
import { NotFoundError } from '@app/core';
import type { Pool } from '@app/database';
import { decodeCursor, encodeCursor } from '@app/http';
import { PG_POOL } from '@app/platform';
import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import type { EndpointDefinition } from './endpoint.decider.js';

export interface WebhookHealth {
  lastAttemptAt: string | null;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  consecutiveFailures: number;
  failuresTotal: number;
  successesTotal: number;
}

export interface WebhookView extends EndpointDefinition {
  id: string;
  status: 'enabled' | 'disabled';
  disabledReason: string | null;
  disabledDetail: string | null;
  disabledAt: string | null;
  secretRotatedAt: string | null;
  previousSecretExpiresAt: string | null;
  createdAt: string;
  updatedAt: string;
  health: WebhookHealth;
  replays: { id: string; since: string; until: string; status: string; scheduled: number | null; requestedAt: string; completedAt: string | null }[];
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

const SELECT = `
SELECT e.*, h.last_attempt_at, h.last_success_at, h.last_failure_at, h.last_status_code, h.last_error,
       coalesce(h.consecutive_failures, 0) AS consecutive_failures, coalesce(h.failures_total, 0) AS failures_total, coalesce(h.successes_total, 0) AS successes_total
FROM webhook_endpoints e LEFT JOIN webhook_endpoint_health h USING (endpoint_id)`;

type Row = Record<string, any>;

function view(row: Row, replays: Row[]): WebhookView {
  return {
    id: row.endpoint_id,
    ...(row.definition as EndpointDefinition),
    status: row.status,
    disabledReason: row.disabled_reason,
    disabledDetail: row.disabled_detail,
    disabledAt: iso(row.disabled_at),
    secretRotatedAt: iso(row.secret_rotated_at),
    previousSecretExpiresAt: iso(row.previous_secret_expires_at),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    health: {
      lastAttemptAt: iso(row.last_attempt_at),
      lastSuccessAt: iso(row.last_success_at),
      lastFailureAt: iso(row.last_failure_at),
      lastStatusCode: row.last_status_code,
      lastError: row.last_error,
      consecutiveFailures: Number(row.consecutive_failures),
      failuresTotal: Number(row.failures_total),
      successesTotal: Number(row.successes_total),
    },
    replays: replays.map((r) => ({ id: r.replay_id, since: r.since.toISOString(), until: r.until.toISOString(), status: r.status, scheduled: r.scheduled, requestedAt: r.requested_at.toISOString(), completedAt: iso(r.completed_at) })),
  };
}

export class GetWebhookQuery extends Query<WebhookView> {
  constructor(readonly endpointId: string, readonly includeDeleted = false) {
    super();
  }
}

export class ListWebhooksQuery extends Query<{ items: WebhookView[]; nextCursor: string | null }> {
  constructor(
    readonly limit: number,
    readonly cursor: string | undefined,
    /** Name patterns the caller may read; null: all. */
    readonly patterns: string[] | null,
  ) {
    super();
  }
}

@QueryHandler(GetWebhookQuery)
export class GetWebhookHandler implements IQueryHandler<GetWebhookQuery> {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ endpointId, includeDeleted }: GetWebhookQuery): Promise<WebhookView> {
    const { rows } = await this.pool.query(`${SELECT} WHERE e.endpoint_id = $1`, [endpointId]);
    if (!rows[0] || (rows[0].status === 'deleted' && !includeDeleted)) throw new NotFoundError(`webhook endpoint ${endpointId.slice(0, 64)} not found`, 'WEBHOOK_NOT_FOUND');
    const replays = await this.pool.query('SELECT * FROM webhook_replays_view WHERE endpoint_id = $1 ORDER BY requested_at DESC LIMIT 20', [endpointId]);
    return view(rows[0], replays.rows);
  }
}

const isCursor = (v: unknown): v is [string, string] => Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string');

@QueryHandler(ListWebhooksQuery)
export class ListWebhooksHandler implements IQueryHandler<ListWebhooksQuery> {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ limit, cursor, patterns }: ListWebhooksQuery) {
    if (patterns && patterns.length === 0) return { items: [], nextCursor: null };
    const after = decodeCursor(cursor, isCursor);
    const params: unknown[] = [limit + 1];
    let where = `e.status <> 'deleted'`;
    if (patterns) where += ` AND e.name ~ ANY($${params.push(patterns.map((p) => globToRegExp(p).source))}::text[])`;
    if (after) where += ` AND (e.created_at, e.endpoint_id) > ($${params.push(after[0])}::timestamptz, $${params.push(after[1])})`;
    const { rows } = await this.pool.query(`${SELECT} WHERE ${where} ORDER BY e.created_at, e.endpoint_id LIMIT $1`, params);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map((r) => view(r, [])), nextCursor: rows.length > limit ? encodeCursor([last.created_at.toISOString(), last.endpoint_id]) : null };
  }
}
