import type { JsonValue } from '@app/event-store';
import type { Principal } from '@app/http';
import { applyDecorators, Injectable, SetMetadata, type Type } from '@nestjs/common';
import type { Priority, RetryPolicy } from '../domain/task.events.js';

export interface TaskLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What a handler gets besides its data. */
export interface TaskContext {
  readonly operationId: string;
  readonly taskType: string;
  /** 1-based; a retry has the next number. */
  readonly attempt: number;
  readonly priority: Priority;
  /** Aborted on cancel, timeout, lease loss or shutdown; `signal.reason` says which. */
  readonly signal: AbortSignal;
  readonly logger: TaskLogger;
  /** Fine-grained progress: broadcast to Socket.IO subscribers, never stored. */
  progress(percent: number, message?: string): void;
  /** A milestone: stored as a task.progressed event (and broadcast). */
  milestone(message: string, percent?: number): Promise<void>;
  /**
   * Runs a named stage and stores its start and outcome; the output is the task's staged result. A stage
   * that completed in an earlier attempt is not run again: its stored output is returned.
   */
  stage<T extends JsonValue | void>(name: string, fn: () => Promise<T>): Promise<T>;
}

export interface TaskHandler<Data = never, Result extends JsonValue | void = JsonValue | void> {
  run(data: Data, ctx: TaskContext): Promise<Result>;
}

export interface TaskTypeDefinition {
  /** Dotted and stable, `<library>.<operation>`: `system.echo`, `doc-store.export`. */
  type: string;
  description: string;
  /** class-validator DTO for the data; without one any JSON is accepted. Checked at submit (400). */
  schema?: Type<object>;
  /** Defaults when the submitter does not give them. */
  priority?: Priority;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Most attempts of this type one process-manager instance runs at the same time. */
  concurrency?: number;
  /** Checks beyond the schema, at submit (throw a ValidationError for a 400). */
  check?(data: JsonValue): void;
  /**
   * At submit, with the submitter: throw a ForbiddenError if the task would reach what the token may not,
   * and return the data to store (e.g. with the submitter's path scopes, which the handler then applies).
   */
  authorize?(data: JsonValue, principal: Principal): JsonValue;
}

export const TASK_TYPE_METADATA = 'opsledger:task-type';

/**
 * Registers a task type. Put it on a provider class implementing TaskHandler and import its module in the api
 * (which validates submissions against the schema) and in the process manager (which runs it):
 *
 *   @TaskType({ type: 'salesforce.deploy', description: 'Deploys metadata', schema: DeployData, concurrency: 2 })
 *   export class DeployTask implements TaskHandler<DeployData> { async run(data, ctx) { … } }
 */
export const TaskType = (definition: TaskTypeDefinition) => applyDecorators(SetMetadata(TASK_TYPE_METADATA, definition), Injectable());

/** Thrown by a handler to fail with a stable code; retriable: false skips the remaining attempts. */
export class TaskFailure extends Error {
  readonly code: string;
  readonly retriable: boolean;
  constructor(message: string, options: { code?: string; retriable?: boolean } = {}) {
    super(message);
    this.name = 'TaskFailure';
    this.code = options.code ?? 'TASK_FAILED';
    this.retriable = options.retriable ?? true;
  }
}
