import { NotFoundError } from '@app/core';
import type { Pool } from '@app/database';
import { decodeCursor, encodeCursor } from '@app/http';
import { PG_POOL } from '@app/platform';
import { Inject } from '@nestjs/common';
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import type { TokenView } from './tokens.dto.js';

export class GetTokenQuery extends Query<TokenView> {
  constructor(readonly tokenId: string) {
    super();
  }
}

export class ListTokensQuery extends Query<{ items: TokenView[]; nextCursor: string | null }> {
  constructor(readonly limit: number, readonly cursor?: string) {
    super();
  }
}

interface TokenRow {
  id: string;
  name: string;
  role: TokenView['role'];
  scopes: string[];
  expires_at: Date | null;
  created_at: Date;
  created_by: { kind: string; id: string };
  rotated_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  last_used_ip: string | null;
  use_count: string | null;
}

const SELECT = `SELECT t.*, u.last_used_at, u.last_used_ip, u.use_count
  FROM application_tokens t LEFT JOIN application_token_usage u ON u.token_id = t.id`;

function view(row: TokenRow, now = Date.now()): TokenView {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    scopes: row.scopes,
    expiresAt: row.expires_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    status: row.revoked_at ? 'revoked' : row.expires_at && row.expires_at.getTime() <= now ? 'expired' : 'active',
    rotatedAt: row.rotated_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    lastUsedIp: row.last_used_ip,
    useCount: Number(row.use_count ?? 0),
    createdBy: row.created_by,
  };
}

const isCursor = (v: unknown): v is [string, string] => Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string');

@QueryHandler(GetTokenQuery)
export class GetTokenHandler implements IQueryHandler<GetTokenQuery> {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ tokenId }: GetTokenQuery): Promise<TokenView> {
    const { rows } = await this.pool.query<TokenRow>(`${SELECT} WHERE t.id = $1`, [tokenId]);
    if (!rows[0]) throw new NotFoundError(`token ${tokenId} not found`, 'TOKEN_NOT_FOUND');
    return view(rows[0]);
  }
}

@QueryHandler(ListTokensQuery)
export class ListTokensHandler implements IQueryHandler<ListTokensQuery> {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ limit, cursor }: ListTokensQuery) {
    const after = decodeCursor(cursor, isCursor);
    const { rows } = await this.pool.query<TokenRow>(
      `${SELECT} WHERE ($1::timestamptz IS NULL OR (t.created_at, t.id) > ($1::timestamptz, $2::text))
       ORDER BY t.created_at, t.id LIMIT $3`,
      [after?.[0] ?? null, after?.[1] ?? null, limit + 1],
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => view(r)),
      nextCursor: rows.length > limit && last ? encodeCursor([last.created_at.toISOString(), last.id]) : null,
    };
  }
}
