import { loadConfig } from '@app/config';
import type { INestApplicationContext } from '@nestjs/common';
import 'reflect-metadata';
import { createProcessManager } from '../../apps/process-manager/src/bootstrap.js';

/** Boots the process manager in this process against an existing test database. */
export async function startTestProcessManager(databaseUrl: string, env: Record<string, string> = {}): Promise<INestApplicationContext> {
  const config = loadConfig({ LOG_LEVEL: 'warn', DATABASE_URL: databaseUrl, ...env });
  return createProcessManager({ config, databaseUrl });
}
