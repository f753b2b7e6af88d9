import { APP_CONFIG, type EnvConfig } from '@app/config';
import { type CommandContext, ConflictError, DomainError, PreconditionFailedError } from '@app/core';
import { type JsonValue, WrongExpectedVersionError } from '@app/event-store';
import { CommandExecutor } from '@app/platform';
import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { keyValueDecider, type KeyValueCommand, kvStreamId } from './kv.decider.js';

export interface KvWriteInput {
  kind: 'CreateEntry' | 'UpsertEntry' | 'UpdateEntry' | 'DeleteEntry';
  key: string;
  value?: unknown;
  ttlSeconds?: number;
  tags?: string[];
  /** Expected version; `source` says whether it came from the body (409) or If-Match (412). */
  expectedVersion?: { version: number; source: 'body' | 'if-match' };
}

export class WriteEntryCommand extends Command<{ version: number; consistent: boolean }> {
  constructor(readonly input: KvWriteInput, readonly ctx: CommandContext) {
    super();
  }
}

@CommandHandler(WriteEntryCommand)
export class WriteEntryHandler implements ICommandHandler<WriteEntryCommand> {
  constructor(
    private readonly executor: CommandExecutor,
    @Inject(APP_CONFIG) private readonly config: EnvConfig,
  ) {}

  async execute({ input, ctx }: WriteEntryCommand) {
    if (input.kind !== 'DeleteEntry') {
      const size = Buffer.byteLength(JSON.stringify(input.value));
      if (size > this.config.OPSLEDGER_KV_MAX_VALUE_BYTES) {
        throw new DomainError('VALUE_TOO_LARGE', `the value is ${size} bytes; the limit is ${this.config.OPSLEDGER_KV_MAX_VALUE_BYTES}`, 413, { limit: this.config.OPSLEDGER_KV_MAX_VALUE_BYTES });
      }
    }
    const command: KeyValueCommand =
      input.kind === 'DeleteEntry'
        ? { type: 'DeleteEntry', key: input.key, now: ctx.now }
        : { type: input.kind, key: input.key, value: input.value as JsonValue, ttlSeconds: input.ttlSeconds, tags: input.tags, now: ctx.now };
    const expected = input.expectedVersion;
    try {
      const result = await this.executor.execute(keyValueDecider, kvStreamId(input.key), command, ctx, {
        expectedRevision: expected === undefined ? undefined : expected.version === 0 ? 'no_stream' : BigInt(expected.version - 1),
      });
      return { version: Number(result.revision + 1n), consistent: result.consistent };
    } catch (error) {
      if (error instanceof WrongExpectedVersionError && expected) {
        const currentVersion = error.actual === 'no_stream' ? 0 : Number(error.actual + 1n);
        const message = `expected version ${expected.version}, current version is ${currentVersion}`;
        if (expected.source === 'if-match') throw new PreconditionFailedError(message, { currentVersion });
        throw new ConflictError(message, 'VERSION_CONFLICT', { currentVersion });
      }
      throw error;
    }
  }
}
