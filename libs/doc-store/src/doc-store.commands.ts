import { APP_CONFIG, type EnvConfig } from '@app/config';
import { type CommandContext, ConflictError, fold, NotFoundError, PreconditionFailedError, toDomainEvent } from '@app/core';
import { EVENT_STORE, type EventStore, type JsonValue, WrongExpectedVersionError } from '@app/event-store';
import { CommandExecutor } from '@app/platform';
import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { collectionDecider, type CollectionEvent } from './collection.decider.js';
import { collectionOf, collectionStreamId, documentStreamId } from './doc-paths.js';
import { documentDecider, type DocumentCommand } from './document.decider.js';

/** An expected version and where it came from: the body (409 on mismatch) or If-Match (412). */
export interface ExpectedVersion {
  version: number;
  source: 'body' | 'if-match';
}

export type DocumentWrite =
  | { kind: 'create'; path: string; value: JsonValue }
  | { kind: 'replace'; path: string; value: JsonValue; expected: ExpectedVersion }
  | { kind: 'patch'; path: string; patch: JsonValue; expected: ExpectedVersion }
  | { kind: 'delete'; path: string; expected: ExpectedVersion };

export class WriteDocumentCommand extends Command<{ version: number; consistent: boolean }> {
  constructor(readonly write: DocumentWrite, readonly ctx: CommandContext) {
    super();
  }
}

export class WriteCollectionCommand extends Command<{ consistent: boolean }> {
  constructor(readonly kind: 'create' | 'delete', readonly path: string, readonly ctx: CommandContext) {
    super();
  }
}

export function versionConflict(error: WrongExpectedVersionError, expected: ExpectedVersion): Error {
  const currentVersion = error.actual === 'no_stream' ? 0 : Number(error.actual + 1n);
  const message = `expected version ${expected.version}, the current version is ${currentVersion}`;
  if (expected.source === 'if-match') return new PreconditionFailedError(message, { currentVersion });
  return new ConflictError(message, 'VERSION_CONFLICT', { currentVersion });
}

@CommandHandler(WriteDocumentCommand)
export class WriteDocumentHandler implements ICommandHandler<WriteDocumentCommand> {
  constructor(
    private readonly executor: CommandExecutor,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(APP_CONFIG) private readonly config: EnvConfig,
  ) {}

  async execute({ write, ctx }: WriteDocumentCommand) {
    // The collection's generation from its stream (not the read model, which may lag). A collection deleted
    // after this read is handled by the projection: it drops writes of a generation that is no longer live.
    const collectionEvents = await this.store.readStream(collectionStreamId(collectionOf(write.path)));
    const { generation } = fold(collectionDecider, collectionEvents.map(toDomainEvent) as CollectionEvent[]);
    const limit = this.config.OPSLEDGER_DOCS_MAX_VALUE_BYTES;
    const target = { path: write.path, generation };
    const command: DocumentCommand =
      write.kind === 'create'
        ? { ...target, type: 'CreateDocument', value: write.value, maxValueBytes: limit }
        : write.kind === 'replace'
          ? { ...target, type: 'ReplaceDocument', value: write.value, maxValueBytes: limit }
          : write.kind === 'patch'
            ? { ...target, type: 'PatchDocument', patch: write.patch, maxValueBytes: limit }
            : { ...target, type: 'DeleteDocument' };
    const expected = write.kind === 'create' ? undefined : write.expected;
    try {
      const result = await this.executor.execute(documentDecider, documentStreamId(write.path), command, ctx, {
        expectedRevision: expected ? BigInt(expected.version - 1) : undefined,
      });
      return { version: Number(result.revision + 1n), consistent: result.consistent };
    } catch (error) {
      if (error instanceof WrongExpectedVersionError && expected) {
        if (error.actual === 'no_stream') throw new NotFoundError(`document ${write.path} not found`, 'DOCUMENT_NOT_FOUND');
        throw versionConflict(error, expected);
      }
      throw error;
    }
  }
}

@CommandHandler(WriteCollectionCommand)
export class WriteCollectionHandler implements ICommandHandler<WriteCollectionCommand> {
  constructor(private readonly executor: CommandExecutor) {}

  async execute({ kind, path, ctx }: WriteCollectionCommand) {
    const type = kind === 'create' ? 'CreateCollection' : 'DeleteCollection';
    const result = await this.executor.execute(collectionDecider, collectionStreamId(path), { type, path }, ctx);
    return { consistent: result.consistent };
  }
}
