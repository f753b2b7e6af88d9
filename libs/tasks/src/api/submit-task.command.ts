import { type CommandContext, ConflictError, metadataOf, ValidationError } from '@app/core';
import { EVENT_STORE, type EventStore, type JsonValue, WrongExpectedVersionError } from '@app/event-store';
import type { Principal } from '@app/http';
import { APP_CONFIG, type EnvConfig } from '@app/config';
import { ProjectionPositions, ProjectionRunner } from '@app/projections';
import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { createHash, randomUUID } from 'node:crypto';
import { DEFAULT_RETRY } from '../domain/retry-policy.js';
import { taskDecider, type TaskCommand } from '../domain/task.decider.js';
import type { Priority, RetryPolicy } from '../domain/task.events.js';
import { newOperationId, taskStreamId } from '../domain/task-ids.js';
import { taskProjection } from '../domain/task.projection.js';
import { TaskTypeRegistry } from '../registry/task-type.registry.js';
import type { SubmitTaskDto } from './tasks.dto.js';

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const MAX_DATA_BYTES = 256 * 1024;

export class SubmitTaskCommand extends Command<{ operationId: string; replayed: boolean }> {
  constructor(readonly input: SubmitTaskDto, readonly principal: Principal, readonly ctx: CommandContext) {
    super();
  }
}

/** JSON with sorted keys, so the same request always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** Idempotency keys are per caller: a stream per (actor, key) claimed with no_stream, so two requests never both win. */
export const idempotencyStreamId = (ctx: CommandContext, key: string) =>
  `task-idempotency-${createHash('sha256').update(`${ctx.actor.kind}:${ctx.actor.id}:${key}`).digest('hex')}`;

@CommandHandler(SubmitTaskCommand)
export class SubmitTaskHandler implements ICommandHandler<SubmitTaskCommand> {
  constructor(
    private readonly runner: ProjectionRunner,
    private readonly registry: TaskTypeRegistry,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly positions: ProjectionPositions,
    @Inject(APP_CONFIG) private readonly config: EnvConfig,
  ) {}

  async execute({ input, principal, ctx }: SubmitTaskCommand) {
    const size = Buffer.byteLength(JSON.stringify(input.data ?? null));
    if (size > MAX_DATA_BYTES) throw new ValidationError(`data is ${size} bytes of JSON; the limit is ${MAX_DATA_BYTES}`, { field: 'data' }, 'DATA_TOO_LARGE');
    // Without data, a type with a schema gets an empty object (its fields may all be optional).
    const data = (input.data === undefined ? (this.registry.get(input.type)?.definition.schema ? {} : null) : input.data) as JsonValue;
    const definition = await this.registry.check(input.type, data);
    const stored = definition.authorize ? definition.authorize(data, principal) : data;
    const retry: RetryPolicy = {
      ...DEFAULT_RETRY,
      ...definition.retry,
      ...(input.retry ? { maxAttempts: input.retry.maxAttempts } : {}),
      ...Object.fromEntries(Object.entries(input.retry?.backoff ?? {}).filter(([, v]) => v !== undefined)),
    };
    if (retry.maxDelayMs < retry.initialDelayMs) throw new ValidationError('retry.backoff.maxDelayMs must not be below initialDelayMs', { field: 'retry' });
    const build = (operationId: string): TaskCommand => ({
      type: 'SubmitTask',
      operationId,
      taskType: input.type,
      data: stored,
      priority: input.priority ?? definition.priority ?? ('normal' satisfies Priority),
      notBefore: input.scheduledFor ? new Date(input.scheduledFor) : ctx.now,
      timeoutMs: input.timeoutMs ?? definition.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      retry,
      recurrence: input.recurrence
        ? { cron: input.recurrence.cron, timezone: input.recurrence.timezone ?? 'UTC', until: input.recurrence.until ? new Date(input.recurrence.until).toISOString() : null, maxOccurrences: input.recurrence.maxOccurrences ?? null }
        : null,
      idempotencyKey: input.idempotencyKey ?? null,
      parent: null,
      now: ctx.now,
    });
    if (!input.idempotencyKey) {
      const operationId = newOperationId();
      await this.submit(build(operationId), operationId, ctx);
      return { operationId, replayed: false };
    }
    return this.submitOnce(input, input.idempotencyKey, build, ctx);
  }

  /**
   * A new task's stream cannot exist yet, so nothing is read first: decide against the empty state, append
   * with no_stream, then wait until the read models show it (read-your-writes, as CommandExecutor does).
   */
  private async submit(command: TaskCommand, operationId: string, ctx: CommandContext): Promise<void> {
    const events = taskDecider.decide(command, taskDecider.initialState());
    const metadata = metadataOf(ctx);
    const { position } = await this.store.appendToStream(
      taskStreamId(operationId),
      events.map((e) => ({ id: randomUUID(), type: e.type, data: e.data, metadata })),
      { expectedRevision: 'no_stream' },
    );
    await this.positions.waitFor(this.runner.namesFor(events.map((e) => e.type)), position, this.config.OPSLEDGER_CONSISTENCY_TIMEOUT_MS);
  }

  private async submitOnce(input: SubmitTaskDto, key: string, build: (id: string) => TaskCommand, ctx: CommandContext) {
    const { idempotencyKey: _, ...request } = input;
    const requestHash = createHash('sha256').update(canonical(request)).digest('hex');
    const keyStream = idempotencyStreamId(ctx, key);
    for (let round = 0; ; round++) {
      const [recorded] = await this.store.readStream(keyStream, { maxCount: 1 });
      if (recorded) {
        const claim = recorded.data as { operationId: string; requestHash: string };
        if (claim.requestHash !== requestHash) {
          throw new ConflictError(`idempotency key ${key} was used for a different request`, 'IDEMPOTENCY_KEY_REUSED', { operationId: claim.operationId });
        }
        // The first request may not have submitted it yet (or crashed before): whoever comes first does.
        await this.ensureSubmitted(build(claim.operationId), claim.operationId, ctx);
        return { operationId: claim.operationId, replayed: true };
      }
      const operationId = newOperationId();
      try {
        await this.store.appendToStream(
          keyStream,
          [{ id: randomUUID(), type: 'TaskIdempotencyKeyRecorded', data: { key, operationId, requestHash, actor: ctx.actor }, metadata: metadataOf(ctx) }],
          { expectedRevision: 'no_stream' },
        );
      } catch (error) {
        if (error instanceof WrongExpectedVersionError && round < 3) continue; // a concurrent request with the key won
        throw error;
      }
      await this.ensureSubmitted(build(operationId), operationId, ctx);
      return { operationId, replayed: false };
    }
  }

  /** Submits the task unless it exists, and returns once the tasks read model shows it either way. */
  private async ensureSubmitted(command: TaskCommand, operationId: string, ctx: CommandContext): Promise<void> {
    try {
      await this.submit(command, operationId, ctx);
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw error;
      const [last] = await this.store.readStream(taskStreamId(operationId), { direction: 'backwards', fromRevision: 'end', maxCount: 1 });
      await this.positions.waitFor([taskProjection.name], last.position, this.config.OPSLEDGER_CONSISTENCY_TIMEOUT_MS);
    }
  }
}
