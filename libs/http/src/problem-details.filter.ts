import { DomainError } from '@app/core';
import { WrongExpectedVersionError, EventStoreUnavailableError } from '@app/event-store';
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  requestId?: string;
  [extra: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_CONTENT_LENGTH',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
  FST_ERR_BAD_URL: 'BAD_URL',
};

function codeFromStatus(status: number): string {
  return (TITLES[status] ?? 'Error').toUpperCase().replace(/[^A-Z]+/g, '_');
}

/** Turns any error into an RFC 9457 problem+json body with a stable `code`; internals never leak. */
export function toProblem(error: unknown, request?: { url?: string; id?: string }): Problem {
  let status = 500;
  let code = 'INTERNAL_ERROR';
  let detail: string | undefined = 'an unexpected error occurred';
  let extras: Record<string, unknown> = {};
  if (error instanceof DomainError) {
    status = error.status;
    code = error.code;
    detail = error.message;
    extras = error.details ?? {};
  } else if (error instanceof WrongExpectedVersionError) {
    status = 409;
    code = 'VERSION_CONFLICT';
    detail = 'the resource was changed concurrently; read it again and retry';
  } else if (error instanceof EventStoreUnavailableError) {
    status = 503;
    code = 'EVENT_STORE_UNAVAILABLE';
    detail = 'the event store is unavailable; retry later';
  } else if (error instanceof HttpException) {
    status = error.getStatus();
    const body = error.getResponse();
    const message = typeof body === 'string' ? body : (body as { message?: unknown }).message;
    // Nest wraps Fastify's own 4xx errors (body parsing, body limit) in an HttpException; keep their code.
    const fastifyCode = FASTIFY_CODES[(error.cause as { code?: string } | undefined)?.code ?? ''];
    if (Array.isArray(message)) {
      code = 'VALIDATION_FAILED';
      detail = message.join('; ');
      extras = { errors: message };
    } else if (fastifyCode) {
      code = fastifyCode;
      detail = code === 'MALFORMED_JSON' ? 'the request body is not valid JSON' : typeof message === 'string' ? message : error.message;
    } else {
      code = status === 404 ? 'ROUTE_NOT_FOUND' : status === 429 ? 'RATE_LIMITED' : codeFromStatus(status);
      detail = typeof message === 'string' ? message : error.message;
    }
  } else if (error && typeof error === 'object' && 'statusCode' in error) {
    const e = error as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      status = e.statusCode;
      code = (e.code && FASTIFY_CODES[e.code]) ?? (error instanceof SyntaxError ? 'MALFORMED_JSON' : codeFromStatus(status));
      detail = code === 'MALFORMED_JSON' ? 'the request body is not valid JSON' : e.message;
    }
  }
  return {
    type: `https://opsledger.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    code,
    ...(detail ? { detail } : {}),
    ...extras,
    ...(request?.url ? { instance: request.url.split('?')[0] } : {}),
    ...(request?.id ? { requestId: request.id } : {}),
  };
}

export function sendProblem(reply: FastifyReply, problem: Problem): void {
  if (problem.status === 429 && problem.retryAfterSeconds) reply.header('retry-after', String(problem.retryAfterSeconds));
  void reply.status(problem.status).header('content-type', 'application/problem+json; charset=utf-8').send(problem);
}

@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(error: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw error;
    const request = host.switchToHttp().getRequest<FastifyRequest>();
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const problem = toProblem(error, request);
    if (problem.status >= 500) this.logger.error({ err: error, requestId: request.id }, 'request failed');
    sendProblem(reply, problem);
  }
}
