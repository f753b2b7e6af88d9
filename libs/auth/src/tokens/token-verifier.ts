import type { Pool } from '@app/database';
import { EVENT_STORE, type AllSubscription, type EventStore } from '@app/event-store';
import type { Principal } from '@app/http';
import { PG_POOL } from '@app/platform';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Role } from '../permissions.js';
import { TOKEN_EVENT_TYPES } from './token.decider.js';
import { hashesEqual, hashTokenSecret } from './token-secret.js';

interface CachedToken {
  hash: string;
  tokenId: string;
  principal: Principal;
  /** The earliest of token expiry and the secret's grace end, in ms; null: never. */
  validUntil: number | null;
  cachedAt: number;
}

const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 10_000;

/**
 * Verifies bearer secrets against the hashed read model. Positive answers are cached; every api node
 * follows token events live and drops the entries they touch, so a revoke or rotation applies at once.
 */
@Injectable()
export class TokenVerifier implements OnModuleInit, OnApplicationShutdown {
  private readonly cache = new Map<string, CachedToken>();
  private subscription: AllSubscription | null = null;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  onModuleInit(): void {
    this.subscription = this.store.subscribeToAll({
      fromPosition: 'end',
      filter: { eventTypes: TOKEN_EVENT_TYPES },
      onBatch: async ({ events }) => {
        for (const e of events) this.forget((e.data as { tokenId: string }).tokenId);
      },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscription?.close();
  }

  forget(tokenId: string): void {
    for (const [hash, entry] of this.cache) if (entry.tokenId === tokenId) this.cache.delete(hash);
  }

  async verify(secret: string, now = Date.now()): Promise<Principal | null> {
    const hash = hashTokenSecret(secret);
    const cached = this.cache.get(hash);
    if (cached && now - cached.cachedAt < CACHE_TTL_MS && hashesEqual(cached.hash, hash)) {
      return cached.validUntil === null || cached.validUntil > now ? cached.principal : null;
    }
    const { rows } = await this.pool.query<{ hash: string; id: string; role: Role; scopes: string[]; expires_at: Date | null; valid_until: Date | null; revoked_at: Date | null }>(
      `SELECT s.hash, t.id, t.role, t.scopes, t.expires_at, s.valid_until, t.revoked_at
       FROM application_token_secrets s JOIN application_tokens t ON t.id = s.token_id WHERE s.hash = $1`,
      [hash],
    );
    const row = rows[0];
    if (!row || row.revoked_at || !hashesEqual(row.hash, hash)) return null;
    const limits = [row.expires_at?.getTime(), row.valid_until?.getTime()].filter((v): v is number => v !== undefined);
    const validUntil = limits.length ? Math.min(...limits) : null;
    if (validUntil !== null && validUntil <= now) return null;
    const principal: Principal = { actor: { kind: 'token', id: row.id }, role: row.role, scopes: row.scopes, tokenId: row.id };
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { hash, tokenId: row.id, principal, validUntil, cachedAt: now });
    return principal;
  }
}
