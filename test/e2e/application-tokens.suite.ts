import { CommandBus } from '@nestjs/cqrs';
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { CreateTokenCommand } from '../../libs/auth/src/tokens/tokens.commands.js';
import { startTestApi, type TestApi } from '../support/api.js';
import { allEvents, type EventStoreBackend, eventLogHead, type RunningBackend, startEventStoreBackend } from '../support/event-store-backend.js';
import { connectDatabase, eventually, expectProblem, sleep } from '../support/problem.js';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** Application tokens end to end over real HTTP, with the api on the given event store. */
export function defineApplicationTokensSuite(backend: EventStoreBackend): void {
  describe(`application tokens (${backend} event store)`, () => {
    let store: RunningBackend;
    let api: TestApi;
    let db: pg.Client;

    beforeAll(async () => {
      store = await startEventStoreBackend(backend);
      api = await startTestApi(store.env);
      expect(api.store.kind).toBe(backend);
      db = await connectDatabase(api.databaseUrl);
    });
    afterAll(async () => {
      await db?.end();
      await api?.close();
      await store?.stop();
    });

    async function createToken(body: Record<string, unknown>): Promise<{ id: string; token: string; body: any }> {
      const res = await api.call('POST', '/api/application-tokens', body);
      expect(res.status).toBe(201);
      return { id: res.body.id, token: res.body.token, body: res.body };
    }

    /** Where the event log ends (read through the port): unchanged when nothing was written. */
    const logHead = () => eventLogHead(api.store);

    /** Events whose data or metadata contains `needle`, read through the event store port. */
    async function eventsContaining(needle: string): Promise<number> {
      return (await allEvents(api.store)).filter((e) => JSON.stringify(e.data).includes(needle) || JSON.stringify(e.metadata).includes(needle)).length;
    }

    /** Rows of every table in the database whose text form contains `needle` (tables are found, not listed by hand). */
    async function rowsContaining(needle: string): Promise<Record<string, number>> {
      const { rows: tables } = await db.query<{ name: string }>(
        `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name FROM information_schema.tables
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
      );
      const hits: Record<string, number> = {};
      for (const { name } of tables) {
        const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${name} x WHERE strpos(x::text, $1) > 0`, [needle]);
        if (rows[0].n > 0) hits[name] = rows[0].n;
      }
      return hits;
    }

    const kvGet = (token: string | null, key = 'probe') => api.call('GET', `/api/key-value/${encodeURIComponent(key)}`, undefined, { token });

    describe('creating, listing and reading tokens', () => {
      test('the secret is shown once with the opl_ prefix, never listed or read back, and only its hash is stored', async () => {
        const created = await createToken({ name: 'ci-pipeline', role: 'application', scopes: ['kv:write:ci/*', 'kv:read'], expiresInDays: 7 });
        expect(created.token).toMatch(/^opl_[A-Za-z0-9_-]{43}$/);
        expect(created.body).toMatchObject({
          id: expect.stringMatching(/^[a-z0-9_-]{1,64}$/),
          name: 'ci-pipeline',
          role: 'application',
          scopes: ['kv:write:ci/*', 'kv:read'],
          status: 'active',
          rotatedAt: null,
          revokedAt: null,
          lastUsedAt: null,
          useCount: 0,
          createdBy: { kind: 'token', id: 'owner' },
        });
        const expiresInMs = Date.parse(created.body.expiresAt) - Date.parse(created.body.createdAt);
        expect(expiresInMs).toBe(7 * 86_400_000);

        // The secret works as a bearer token.
        expect((await api.call('GET', '/api/key-value?limit=1', undefined, { token: created.token })).status).toBe(200);

        const got = await api.call('GET', `/api/application-tokens/${created.id}`);
        expect(got.status).toBe(200);
        expect(got.body).not.toHaveProperty('token');
        expect(JSON.stringify(got.body)).not.toContain(created.token);
        const { token: _shownOnce, lastUsedAt: _a, lastUsedIp: _b, useCount: _c, ...stable } = created.body;
        expect(got.body).toMatchObject(stable);

        const list = await api.call('GET', '/api/application-tokens?limit=500');
        expect(list.status).toBe(200);
        expect(list.body.items.map((t: { id: string }) => t.id)).toContain(created.id);
        for (const item of list.body.items) expect(item).not.toHaveProperty('token');
        expect(JSON.stringify(list.body)).not.toContain(created.token);

        // Nothing in the database holds the secret (not even its random part); the hash is there.
        const randomPart = created.token.slice('opl_'.length);
        expect(await rowsContaining(randomPart)).toEqual({});
        expect(await eventsContaining(randomPart)).toBe(0);
        const { rows: secrets } = await db.query('SELECT hash, token_id FROM application_token_secrets WHERE token_id = $1', [created.id]);
        expect(secrets).toEqual([{ hash: sha256(created.token), token_id: created.id }]);
        expect(Object.keys(await rowsContaining(sha256(created.token)))).toEqual(expect.arrayContaining(['public.application_token_secrets']));
        expect(await eventsContaining(sha256(created.token))).toBe(1);
      });

      test('a token without expiresInDays expires after 30 days', async () => {
        const created = await createToken({ name: 'default-expiry', role: 'member' });
        expect(Date.parse(created.body.expiresAt) - Date.parse(created.body.createdAt)).toBe(30 * 86_400_000);
        expect(created.body.scopes).toEqual([]);
      });

      test.each([
        ['an unknown role', { name: 'x', role: 'admin' }],
        ['an unknown scope resource', { name: 'x', role: 'application', scopes: ['secrets:read'] }],
        ['a malformed scope', { name: 'x', role: 'application', scopes: ['kv write'] }],
        ['a missing name', { role: 'application' }],
        ['a control character in the name', { name: 'a\u0007b', role: 'application' }],
        ['a zero expiry', { name: 'x', role: 'application', expiresInDays: 0 }],
        ['an expiry sent as a string', { name: 'x', role: 'application', expiresInDays: '7' }],
        ['a name sent as a number', { name: 12345, role: 'application' }],
        ['an unknown field', { name: 'x', role: 'application', secret: 'opl_chosen-by-the-client' }],
      ])('create with %s → 400 and nothing written', async (_label, body) => {
        const events = await logHead();
        const { rows: before } = await db.query('SELECT count(*)::int AS n FROM application_tokens');
        const res = await api.call('POST', '/api/application-tokens', body);
        expectProblem(res, 400, 'VALIDATION_FAILED');
        expect(await logHead()).toBe(events);
        const { rows: after } = await db.query('SELECT count(*)::int AS n FROM application_tokens');
        expect(after[0].n).toBe(before[0].n);
      });

      test('a name PostgreSQL cannot store (an unpaired surrogate) → 400, not a 500', async () => {
        const events = await logHead();
        expectProblem(await api.call('POST', '/api/application-tokens', '{"name": "ci \\ud800", "role": "application"}'), 400, 'UNSTORABLE_TEXT');
        expect(await logHead()).toBe(events);
      });

      test('list pages through every token with a cursor, oldest first, without repeats or gaps', async () => {
        for (let i = 0; i < 5; i++) await createToken({ name: `page-${i}`, role: 'member' });
        const { rows } = await db.query<{ id: string }>('SELECT id FROM application_tokens ORDER BY created_at, id');
        expect(rows.length).toBeGreaterThanOrEqual(7);

        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const res: { status: number; body: any } = await api.call('GET', `/api/application-tokens?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
          expect(res.status).toBe(200);
          expect(res.body.items.length).toBeLessThanOrEqual(2);
          seen.push(...res.body.items.map((t: { id: string }) => t.id));
          cursor = res.body.nextCursor;
          pages++;
        } while (cursor && pages < 50);
        expect(seen).toEqual(rows.map((r) => r.id));
        expect(pages).toBe(Math.ceil(rows.length / 2));
      });

      test('list rejects a forged cursor and an out-of-range limit', async () => {
        expectProblem(await api.call('GET', '/api/application-tokens?cursor=not-a-cursor'), 400, 'INVALID_CURSOR');
        expectProblem(await api.call('GET', '/api/application-tokens?limit=0'), 400, 'VALIDATION_FAILED');
        expectProblem(await api.call('GET', '/api/application-tokens?limit=501'), 400, 'VALIDATION_FAILED');
      });

      test('get, rotate and revoke of an unknown token → 404', async () => {
        expectProblem(await api.call('GET', '/api/application-tokens/no-such-token'), 404, 'TOKEN_NOT_FOUND');
        expectProblem(await api.call('POST', '/api/application-tokens/no-such-token/rotate', {}), 404, 'TOKEN_NOT_FOUND');
        expectProblem(await api.call('DELETE', '/api/application-tokens/no-such-token'), 404, 'TOKEN_NOT_FOUND');
        expectProblem(await api.call('GET', '/api/application-tokens/UPPER%20case'), 404, 'TOKEN_NOT_FOUND');
      });
    });

    describe('authentication', () => {
      test('a missing, malformed or unknown token → 401', async () => {
        expectProblem(await kvGet(null), 401, 'TOKEN_MISSING');
        expectProblem(await api.call('GET', '/api/key-value', undefined, { token: null, headers: { authorization: `Basic ${api.ownerToken}` } }), 401, 'TOKEN_MISSING');
        expectProblem(await kvGet('opl_' + 'A'.repeat(43)), 401, 'TOKEN_INVALID');
        expectProblem(await kvGet(api.ownerToken + 'x'), 401, 'TOKEN_INVALID');
        // A token endpoint is no different.
        expectProblem(await api.call('GET', '/api/application-tokens', undefined, { token: 'opl_wrong' }), 401, 'TOKEN_INVALID');
      });

      test('an expired token → 401; it reads as expired and cannot be rotated', async () => {
        // The decider takes its time from the command, so the real create command (decider → event store →
        // projection → verifier) runs with the clock two days back and a one-day expiry: the token expired
        // yesterday. Nothing around the product is patched; waiting a real day is the only other way.
        const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
        const { tokenId, secret } = await api.app
          .get(CommandBus)
          .execute(
            new CreateTokenCommand(
              { name: 'issued-two-days-ago', role: 'owner', scopes: [], expiresInDays: 1 },
              { actor: { kind: 'system', id: 'test-clock' }, correlationId: 'expired-token', causationId: 'expired-token', now: twoDaysAgo },
            ),
          );
        expectProblem(await kvGet(secret), 401, 'TOKEN_INVALID');
        expectProblem(await api.call('GET', '/api/application-tokens', undefined, { token: secret }), 401, 'TOKEN_INVALID');
        const view = await api.call('GET', `/api/application-tokens/${tokenId}`);
        expect(view.body).toMatchObject({ status: 'expired', expiresAt: new Date(twoDaysAgo.getTime() + 86_400_000).toISOString(), useCount: 0 });
        expectProblem(await api.call('POST', `/api/application-tokens/${tokenId}/rotate`, {}), 409, 'TOKEN_EXPIRED');
      });

      test('a revoked token → 401 at once, even right after it was used; revoking again is a no-op', async () => {
        const t = await createToken({ name: 'to-revoke', role: 'owner' });
        expect((await kvGet(t.token)).status).toBe(404); // authenticated (the key does not exist)
        const revoked = await api.call('DELETE', `/api/application-tokens/${t.id}`);
        expect(revoked.status).toBe(204);
        expectProblem(await kvGet(t.token), 401, 'TOKEN_INVALID');
        expect((await api.call('GET', `/api/application-tokens/${t.id}`)).body).toMatchObject({ status: 'revoked', revokedAt: expect.any(String) });

        const events = await logHead();
        expect((await api.call('DELETE', `/api/application-tokens/${t.id}`)).status).toBe(204);
        expect(await logHead()).toBe(events);
        expectProblem(await api.call('POST', `/api/application-tokens/${t.id}/rotate`, {}), 409, 'TOKEN_REVOKED');
      });

      test('rotation without grace: the old secret → 401 at once, the new one works', async () => {
        const t = await createToken({ name: 'rotate-now', role: 'application' });
        let current = t.token;
        // Several rounds: the old secret is always in the verifier's cache when the rotation happens.
        for (let round = 0; round < 5; round++) {
          expect((await kvGet(current)).status).toBe(404);
          const rotated = await api.call('POST', `/api/application-tokens/${t.id}/rotate`, {});
          expect(rotated.status).toBe(200);
          expect(rotated.body.token).toMatch(/^opl_/);
          expect(rotated.body.token).not.toBe(current);
          expect(rotated.body).toMatchObject({ id: t.id, status: 'active', rotatedAt: expect.any(String), expiresAt: t.body.expiresAt });
          expectProblem(await kvGet(current), 401, 'TOKEN_INVALID');
          expect((await kvGet(rotated.body.token)).status).toBe(404);
          current = rotated.body.token;
        }
        const { rows } = await db.query('SELECT hash FROM application_token_secrets WHERE token_id = $1 AND (valid_until IS NULL OR valid_until > now())', [t.id]);
        expect(rows).toEqual([{ hash: sha256(current) }]);
      });

      test('rotation with a grace period: both secrets work until the grace ends, then only the new one', async () => {
        const t = await createToken({ name: 'rotate-grace', role: 'application' });
        expect((await kvGet(t.token)).status).toBe(404);
        const rotated = await api.call('POST', `/api/application-tokens/${t.id}/rotate`, { gracePeriodSeconds: 3, expiresInDays: 90 });
        expect(rotated.status).toBe(200);
        const graceEnds = Date.parse(rotated.body.rotatedAt) + 3000;
        expect(Date.parse(rotated.body.expiresAt) - Date.parse(rotated.body.rotatedAt)).toBe(90 * 86_400_000);
        expect((await kvGet(t.token)).status).toBe(404);
        expect((await kvGet(rotated.body.token)).status).toBe(404);
        await sleep(Math.max(0, graceEnds - Date.now()) + 100);
        expectProblem(await kvGet(t.token), 401, 'TOKEN_INVALID');
        expect((await kvGet(rotated.body.token)).status).toBe(404);
      });

      test('rotate rejects a negative or too long grace period', async () => {
        const t = await createToken({ name: 'rotate-bad', role: 'application' });
        expectProblem(await api.call('POST', `/api/application-tokens/${t.id}/rotate`, { gracePeriodSeconds: -1 }), 400, 'VALIDATION_FAILED');
        expectProblem(await api.call('POST', `/api/application-tokens/${t.id}/rotate`, { gracePeriodSeconds: 604_801 }), 400, 'VALIDATION_FAILED');
        expect((await kvGet(t.token)).status).toBe(404);
      });
    });

    describe('roles and scopes', () => {
      beforeAll(async () => {
        for (const key of ['ci/a', 'ci/b', 'ci/deep/x', 'prod/x']) {
          expect((await api.call('PUT', `/api/key-value/${encodeURIComponent(key)}`, { value: { key } })).status).toBe(200);
        }
      });

      async function unchanged(key: string, act: () => Promise<void>) {
        const before = await api.call('GET', `/api/key-value/${encodeURIComponent(key)}`);
        const events = await logHead();
        await act();
        expect(await logHead()).toBe(events);
        expect(await api.call('GET', `/api/key-value/${encodeURIComponent(key)}`)).toMatchObject({ status: before.status, body: before.body });
      }

      test('a member reads key-value entries but cannot write them (403) or manage tokens', async () => {
        const { token } = await createToken({ name: 'reader', role: 'member' });
        expect((await kvGet(token, 'ci/a')).body).toMatchObject({ key: 'ci/a', value: { key: 'ci/a' } });
        expect((await api.call('GET', '/api/key-value?prefix=ci/', undefined, { token })).body.items.length).toBeGreaterThanOrEqual(3);
        expect((await api.call('GET', '/api/key-value/ci%2Fa/history', undefined, { token })).status).toBe(200);
        await unchanged('ci/a', async () => {
          expectProblem(await api.call('POST', '/api/key-value', { key: 'ci/new-by-member', value: 1 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('PUT', '/api/key-value', { key: 'ci/a', value: 2 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('PUT', '/api/key-value/ci%2Fa', { value: 2 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('PATCH', '/api/key-value/ci%2Fa', { value: 2 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('DELETE', '/api/key-value/ci%2Fa', undefined, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('POST', '/api/application-tokens', { name: 'x', role: 'owner' }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('GET', '/api/application-tokens', undefined, { token }), 403, 'INSUFFICIENT_SCOPE');
        });
        expect((await kvGet(api.ownerToken, 'ci/new-by-member')).status).toBe(404);
      });

      test('scopes never widen a role: a member with kv:write still cannot write', async () => {
        const { token } = await createToken({ name: 'member-write-scope', role: 'member', scopes: ['kv:write', 'kv:read'] });
        await unchanged('ci/a', async () => {
          expectProblem(await api.call('PUT', '/api/key-value/ci%2Fa', { value: 3 }, { token }), 403, 'INSUFFICIENT_SCOPE');
        });
        expect((await kvGet(token, 'ci/a')).status).toBe(200);
      });

      test('an application token cannot manage tokens (403) and changes nothing', async () => {
        const app = await createToken({ name: 'automation', role: 'application' });
        const victim = await createToken({ name: 'victim', role: 'member' });
        const token = app.token;
        const events = await logHead();
        expectProblem(await api.call('POST', '/api/application-tokens', { name: 'escalate', role: 'owner' }, { token }), 403, 'INSUFFICIENT_SCOPE');
        expectProblem(await api.call('GET', '/api/application-tokens', undefined, { token }), 403, 'INSUFFICIENT_SCOPE');
        expectProblem(await api.call('GET', `/api/application-tokens/${victim.id}`, undefined, { token }), 403, 'INSUFFICIENT_SCOPE');
        expectProblem(await api.call('POST', `/api/application-tokens/${victim.id}/rotate`, {}, { token }), 403, 'INSUFFICIENT_SCOPE');
        expectProblem(await api.call('DELETE', `/api/application-tokens/${victim.id}`, undefined, { token }), 403, 'INSUFFICIENT_SCOPE');
        expect(await logHead()).toBe(events);
        expect((await kvGet(victim.token, 'ci/a')).status).toBe(200);
        // It can do its automation work.
        expect((await api.call('PUT', '/api/key-value/app%2Fwork', { value: 1 }, { token })).status).toBe(200);
      });

      test('a kv:read token → 403 on every write', async () => {
        const { token } = await createToken({ name: 'read-only', role: 'application', scopes: ['kv:read'] });
        expect((await kvGet(token, 'prod/x')).status).toBe(200);
        await unchanged('prod/x', async () => {
          expectProblem(await api.call('POST', '/api/key-value', { key: 'prod/y', value: 1 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('PUT', '/api/key-value', { key: 'prod/x', value: 1 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('PUT', '/api/key-value/prod%2Fx', { value: 1 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('PATCH', '/api/key-value/prod%2Fx', { value: 1 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('DELETE', '/api/key-value/prod%2Fx', undefined, { token }), 403, 'INSUFFICIENT_SCOPE');
        });
        expect((await kvGet(api.ownerToken, 'prod/y')).status).toBe(404);
      });

      test('kv:write:ci/* → 403 outside ci/*; a list shows only the keys the token may read', async () => {
        const { token } = await createToken({ name: 'ci-only', role: 'application', scopes: ['kv:read:ci/*', 'kv:write:ci/*'] });
        const created = await api.call('POST', '/api/key-value', { key: 'ci/new', value: 'ok' }, { token });
        expect(created.status).toBe(201);
        expect((await api.call('PATCH', '/api/key-value/ci%2Fnew', { value: 'ok2' }, { token })).body).toMatchObject({ value: 'ok2', version: 2 });

        await unchanged('prod/x', async () => {
          expectProblem(await api.call('POST', '/api/key-value', { key: 'prod/new', value: 1 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('POST', '/api/key-value', { key: 'ci/deep/new', value: 1 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('PUT', '/api/key-value', { key: 'prod/x', value: 1 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('PUT', '/api/key-value/prod%2Fx', { value: 1 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('PATCH', '/api/key-value/prod%2Fx', { value: 1 }, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('DELETE', '/api/key-value/prod%2Fx', undefined, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('GET', '/api/key-value/prod%2Fx', undefined, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('GET', '/api/key-value/prod%2Fx/history', undefined, { token }), 403, 'INSUFFICIENT_SCOPE');
          expectProblem(await api.call('DELETE', '/api/key-value/ci%2Fdeep%2Fx', undefined, { token }), 403, 'INSUFFICIENT_SCOPE');
        });
        for (const key of ['prod/new', 'ci/deep/new']) expect((await kvGet(api.ownerToken, key)).status).toBe(404);

        const list = await api.call('GET', '/api/key-value', undefined, { token });
        expect(list.status).toBe(200);
        expect(list.body.items.map((e: { key: string }) => e.key)).toEqual(['ci/a', 'ci/b', 'ci/new']);
        const paged = await api.call('GET', '/api/key-value?limit=1&prefix=ci', undefined, { token });
        expect(paged.body.items.map((e: { key: string }) => e.key)).toEqual(['ci/a']);
        const next = await api.call('GET', `/api/key-value?limit=5&prefix=ci&cursor=${encodeURIComponent(paged.body.nextCursor)}`, undefined, { token });
        expect(next.body.items.map((e: { key: string }) => e.key)).toEqual(['ci/b', 'ci/new']);
        expect((await api.call('GET', '/api/key-value?prefix=prod', undefined, { token })).body.items).toEqual([]);
        // The owner sees everything.
        const all = await api.call('GET', '/api/key-value?limit=1000');
        expect(all.body.items.map((e: { key: string }) => e.key)).toEqual(expect.arrayContaining(['ci/a', 'ci/b', 'ci/deep/x', 'ci/new', 'prod/x']));
      });

      test('a write-only scope grants no reads', async () => {
        const { token } = await createToken({ name: 'ci-write-only', role: 'application', scopes: ['kv:write:ci/*'] });
        expectProblem(await api.call('GET', '/api/key-value', undefined, { token }), 403, 'INSUFFICIENT_SCOPE');
        expectProblem(await kvGet(token, 'ci/a'), 403, 'INSUFFICIENT_SCOPE');
        expect((await api.call('PUT', '/api/key-value/ci%2Fw', { value: true }, { token })).status).toBe(200);
      });
    });

    describe('usage and audit', () => {
      test('last-used time, ip and count appear after use (flushed every second)', async () => {
        const t = await createToken({ name: 'usage', role: 'member' });
        const started = Date.now();
        for (let i = 0; i < 3; i++) expect((await api.call('GET', '/api/key-value?limit=1', undefined, { token: t.token })).status).toBe(200);
        expectProblem(await api.call('PUT', '/api/key-value/u', { value: 1 }, { token: t.token }), 403, 'INSUFFICIENT_SCOPE');
        const finished = Date.now();
        const view = await eventually(
          async () => {
            const res = await api.call('GET', `/api/application-tokens/${t.id}`);
            return res.body.useCount === 4 ? res.body : undefined;
          },
          5000,
          'usage flush',
        );
        expect(view.lastUsedIp).toBe('127.0.0.1');
        expect(Date.parse(view.lastUsedAt)).toBeGreaterThanOrEqual(started - 5);
        expect(Date.parse(view.lastUsedAt)).toBeLessThanOrEqual(finished + 5);
        // No more uses, no more counts.
        await sleep(1200);
        expect((await api.call('GET', `/api/application-tokens/${t.id}`)).body.useCount).toBe(4);
        expect((await api.call('GET', '/api/application-tokens?limit=500')).body.items.find((i: { id: string }) => i.id === t.id)).toMatchObject({ useCount: 4, lastUsedIp: '127.0.0.1' });
      });

      test('create, rotate and revoke are events with actor, correlation id, request id and ip', async () => {
        const headers = (requestId: string) => ({ 'x-correlation-id': 'deploy-42', 'x-request-id': requestId });
        const created = await api.call('POST', '/api/application-tokens', { name: 'audited', role: 'application' }, { headers: headers('req-create') });
        expect(created.status).toBe(201);
        expect(created.headers.get('x-request-id')).toBe('req-create');
        const id = created.body.id;
        expect((await api.call('POST', `/api/application-tokens/${id}/rotate`, {}, { headers: headers('req-rotate') })).status).toBe(200);
        // An invalid correlation id is not trusted: the request id is used instead.
        expect((await api.call('DELETE', `/api/application-tokens/${id}`, undefined, { headers: { 'x-correlation-id': 'bad id with spaces', 'x-request-id': 'req-revoke' } })).status).toBe(204);

        const rows = (await api.store.readStream(`application-token-${id}`)) as Array<{ type: string; revision: bigint; metadata: any; data: any }>;
        expect(rows.map((r) => r.revision)).toEqual([0n, 1n, 2n]);
        expect(rows.map((r) => r.type)).toEqual(['ApplicationTokenCreated', 'ApplicationTokenRotated', 'ApplicationTokenRevoked']);
        const actor = { kind: 'token', id: 'owner' };
        expect(rows[0].metadata).toEqual({ actor, correlationId: 'deploy-42', causationId: 'req-create', requestId: 'req-create', ip: '127.0.0.1' });
        expect(rows[1].metadata).toEqual({ actor, correlationId: 'deploy-42', causationId: 'req-rotate', requestId: 'req-rotate', ip: '127.0.0.1' });
        expect(rows[2].metadata).toEqual({ actor, correlationId: 'req-revoke', causationId: 'req-revoke', requestId: 'req-revoke', ip: '127.0.0.1' });
        expect(rows[0].data).toMatchObject({ tokenId: id, name: 'audited', role: 'application', secretHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
        expect(rows[2].data).toEqual({ tokenId: id, revokedAt: expect.any(String) });
      });
    });
  });
}
