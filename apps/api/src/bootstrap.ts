import { OwnerTokenBootstrap } from '@app/auth';
import type { EnvConfig } from '@app/config';
import { createLogger, PinoNestLogger, ProblemDetailsFilter, sendProblem, toProblem } from '@app/http';
import type { PlatformOptions } from '@app/platform';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { ApiModule } from './app.module.js';
import { type ApiMetrics, METRICS } from './metrics.js';
import { RequestValidationPipe } from './request-validation.pipe.js';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

export interface ApiAppOptions {
  config: EnvConfig;
  databaseUrl: string;
  eventStoreFactory?: PlatformOptions['eventStoreFactory'];
}

/** Builds the api (not listening yet): Fastify, JSON logs with request ids, problem+json errors, OpenAPI. */
export async function createApiApp(options: ApiAppOptions): Promise<NestFastifyApplication> {
  const { config } = options;
  const logger = createLogger(config.LOG_LEVEL, 'opsledger-api');
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    bodyLimit: config.OPSLEDGER_BODY_LIMIT_BYTES,
    // Path parameters carry keys and paths of up to 512 characters (the default limit is 100).
    routerOptions: { maxParamLength: 1024 },
    // Errors the router answers itself (too long or malformed URL) are problem+json too.
    frameworkErrors: (error: Error, request: FastifyRequest, reply: FastifyReply) => sendProblem(reply, toProblem(error, request)),
    // Only behind a known proxy may X-Forwarded-For name the client ip (audit metadata, token last-used ip).
    trustProxy: config.OPSLEDGER_TRUST_PROXY,
    requestIdHeader: 'x-request-id',
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(ApiModule.forRoot(options), adapter, {
    logger: new PinoNestLogger(logger),
    bufferLogs: false,
  });
  // /metrics where Prometheus looks for it; everything else under /api.
  app.setGlobalPrefix('api', { exclude: ['metrics'] });
  app.useGlobalPipes(new RequestValidationPipe());
  app.useGlobalFilters(new ProblemDetailsFilter());
  const fastify = app.getHttpAdapter().getInstance();
  app.get<ApiMetrics>(METRICS).instrument(fastify);
  fastify.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', request.id);
    return payload;
  });

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('OpsLedger')
      .setDescription('Event-sourced integration server for Salesforce DevOps. Errors are RFC 9457 problem+json with a stable `code`.')
      .setVersion('0.1.0')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/openapi.json' });
  app.enableShutdownHooks();
  await app.init();
  await app.get(OwnerTokenBootstrap).run();
  return app;
}
