import type { EnvConfig } from '@app/config';
import { createLogger, PinoNestLogger } from '@app/http';
import type { PlatformOptions } from '@app/platform';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ProcessManagerModule } from './pm.module.js';

export async function createProcessManager(options: { config: EnvConfig; databaseUrl: string; eventStoreFactory?: PlatformOptions['eventStoreFactory'] }): Promise<INestApplicationContext> {
  const logger = createLogger(options.config.LOG_LEVEL, 'opsledger-process-manager');
  const app = await NestFactory.createApplicationContext(ProcessManagerModule.forRoot(options), { logger: new PinoNestLogger(logger) });
  app.enableShutdownHooks();
  await app.init();
  return app;
}
