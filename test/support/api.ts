import { loadConfig } from '@app/config';
import { EVENT_STORE, type EventStore } from '@app/event-store';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import 'reflect-metadata';
import { createApiApp } from '../../apps/api/src/bootstrap.js';
import { createTestDatabase } from './database.js';

export const OWNER_TOKEN = 'opl_test-owner-token-0123456789abcdef';

export interface TestApi {
  url: string;
  databaseUrl: string;
  app: NestFastifyApplication;
  ownerToken: string;
  /** The api's own event store (either adapter): tests read the log through the port, never its tables. */
  store: EventStore;
  /** fetch against the api with the owner token (or `token`) and JSON body. */
  call(method: string, path: string, body?: unknown, options?: { token?: string | null; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/** Boots the api in this process on an ephemeral port against a fresh database (real HTTP, real PostgreSQL). */
export async function startTestApi(env: Record<string, string> = {}, existing?: { databaseUrl: string }): Promise<TestApi> {
  const db = existing ? null : await createTestDatabase('api');
  const databaseUrl = existing?.databaseUrl ?? db!.url;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'opsledger-api-'));
  const config = loadConfig({ LOG_LEVEL: 'warn', OPSLEDGER_OWNER_TOKEN: OWNER_TOKEN, OPSLEDGER_DATA_DIR: dataDir, DATABASE_URL: databaseUrl, ...env });
  const app = await createApiApp({ config, databaseUrl });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address() as { port: number };
  const url = `http://127.0.0.1:${address.port}`;
  return {
    url,
    databaseUrl,
    app,
    ownerToken: OWNER_TOKEN,
    store: app.get<EventStore>(EVENT_STORE),
    async call(method, p, body, options = {}) {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      const token = options.token === undefined ? OWNER_TOKEN : options.token;
      if (token) headers.authorization = `Bearer ${token}`;
      let payload: string | undefined;
      if (body !== undefined) {
        payload = typeof body === 'string' ? body : JSON.stringify(body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(url + p, { method, headers, body: payload });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
      await db?.drop();
    },
  };
}
