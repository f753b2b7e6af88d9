import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';

export function createLogger(level: string, name: string): Logger {
  return pino({
    level,
    name,
    base: { pid: process.pid, service: name },
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.token', '*.secret', '*.password'], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** Nest's logger on top of pino, so framework and app logs share one JSON format. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  /** Nest calls log(message, ...params) with the context last; a string before it is the message. */
  private write(level: 'info' | 'warn' | 'error' | 'debug' | 'trace', message: unknown, params: unknown[]) {
    const context = params.length && typeof params[params.length - 1] === 'string' ? (params[params.length - 1] as string) : undefined;
    const rest = context === undefined ? params : params.slice(0, -1);
    const ctx = context ? { context } : {};
    const text = rest.find((p): p is string => typeof p === 'string');
    if (message instanceof Error) this.logger[level]({ ...ctx, err: message }, text ?? message.message);
    else if (message && typeof message === 'object') this.logger[level]({ ...ctx, ...(message as object) }, text);
    else this.logger[level]({ ...ctx, ...(text ? { stack: text } : {}) }, String(message));
  }

  log(message: unknown, ...params: unknown[]) {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]) {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]) {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]) {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]) {
    this.write('trace', message, params);
  }
}
