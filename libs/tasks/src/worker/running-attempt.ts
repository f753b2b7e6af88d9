import { DomainError } from '@app/core';
import type { JsonValue, RecordedEvent } from '@app/event-store';
import type { Logger } from '@nestjs/common';
import type { TaskCommand } from '../domain/task.decider.js';
import type { TaskError, TaskEvent } from '../domain/task.events.js';
import { TaskFailure, type TaskContext, type TaskHandler, type TaskLogger } from '../registry/task-type.js';
import { AttemptAbort, cancelAbort, supersededAbort, timeoutAbort } from './abort-reasons.js';
import type { TaskProgressPublisher } from './progress-publisher.js';
import type { TaskStreamWriter } from './stream-writer.js';

const MAX_OUTPUT_BYTES = 256 * 1024;
const PROGRESS_INTERVAL_MS = 100;

type Outcome =
  | { kind: 'complete'; result: JsonValue }
  | { kind: 'fail'; error: TaskError; timedOutAfterMs?: number }
  | { kind: 'release' }
  | { kind: 'abandon' };

function tooLarge(value: unknown): boolean {
  return Buffer.byteLength(JSON.stringify(value ?? null)) > MAX_OUTPUT_BYTES;
}

function toTaskError(error: unknown): TaskError {
  if (error instanceof TaskFailure) return { code: error.code, message: error.message.slice(0, 2000), retriable: error.retriable };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'HANDLER_ERROR', message: message.slice(0, 2000), retriable: true };
}

function abortedPromise(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One attempt of one task on this instance: runs the handler and records exactly one outcome. */
export class RunningAttempt {
  private readonly controller = new AbortController();
  private finishing = false;
  private closed = false;
  private lastProgressAt = 0;
  private pendingProgress: { percent: number; message: string | null } | null = null;
  private progressTimer: NodeJS.Timeout | null = null;
  readonly attempt: number;
  private readonly workerId: string;

  constructor(
    private readonly writer: TaskStreamWriter,
    private readonly handler: TaskHandler<unknown>,
    private readonly publisher: TaskProgressPublisher | null,
    private readonly logger: Logger,
  ) {
    this.attempt = writer.state.attempt;
    this.workerId = writer.state.workerId ?? '';
  }

  get operationId(): string {
    return this.writer.operationId;
  }

  /** Stops retrying to record the outcome (the process is going away; another instance will retry the attempt). */
  close(): void {
    this.closed = true;
  }

  abort(reason: AttemptAbort): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Events of this task seen by the subscription (ours included, in order). */
  observe(recorded: RecordedEvent): void {
    const event = { type: recorded.type, data: recorded.data } as TaskEvent;
    this.writer.observe(event, recorded.revision);
    if (this.finishing) return;
    if (event.type === 'TaskCancelRequested' && event.data.attempt === this.attempt) this.abort(cancelAbort());
    // Only another instance ends our attempt while we still run it: it found our lease expired.
    const ended = event.type === 'TaskRetryScheduled' || event.type === 'TaskFailed' || event.type === 'TaskCancelled' || event.type === 'TaskCompleted';
    if (ended || (event.type === 'TaskStarted' && event.data.attempt !== this.attempt)) this.abort(supersededAbort());
  }

  /** onSettled: the handler is done (its slot may be reused) — the outcome is recorded after it. */
  async run(onSettled: () => void = () => undefined): Promise<void> {
    const state = this.writer.state;
    const signal = this.controller.signal;
    const timer = setTimeout(() => this.abort(timeoutAbort(state.timeoutMs)), state.timeoutMs);
    let outcome: Outcome;
    try {
      const running = Promise.resolve().then(() => this.handler.run(state.data, this.context()));
      running.catch(() => undefined); // it may settle after the abort decided the outcome
      const result = (await Promise.race([running, abortedPromise(signal)])) ?? null;
      outcome = tooLarge(result)
        ? { kind: 'fail', error: { code: 'RESULT_TOO_LARGE', message: `the result is over ${MAX_OUTPUT_BYTES} bytes of JSON`, retriable: false } }
        : { kind: 'complete', result: result as JsonValue };
    } catch (error) {
      outcome = this.classify(error);
    } finally {
      clearTimeout(timer);
    }
    this.finishing = true;
    this.flushProgress();
    onSettled();
    await this.record(outcome);
  }

  private classify(error: unknown): Outcome {
    const reason = this.controller.signal.aborted ? this.controller.signal.reason : null;
    if (reason instanceof AttemptAbort) {
      switch (reason.kind) {
        case 'timeout':
          return { kind: 'fail', error: { code: 'TIMEOUT', message: reason.message, retriable: true }, timedOutAfterMs: reason.timeoutMs };
        case 'cancel':
          return { kind: 'fail', error: { code: 'CANCELLED', message: reason.message, retriable: false } };
        case 'shutdown':
          return { kind: 'release' };
        default:
          return { kind: 'abandon' };
      }
    }
    return { kind: 'fail', error: toTaskError(error) };
  }

  /** Retries until the outcome is stored or the attempt is no longer ours (then the new owner decides). */
  private async record(outcome: Outcome): Promise<void> {
    if (outcome.kind === 'abandon') return;
    const now = () => new Date();
    for (let failures = 0; !this.closed; failures++) {
      const command: TaskCommand =
        outcome.kind === 'complete'
          ? { type: 'CompleteAttempt', attempt: this.attempt, result: outcome.result, now: now() }
          : outcome.kind === 'release'
            ? { type: 'ReleaseAttempt', attempt: this.attempt, now: now() }
            : { type: 'FailAttempt', attempt: this.attempt, error: outcome.error, timedOutAfterMs: outcome.timedOutAfterMs, now: now(), random: Math.random() };
      try {
        await this.writer.execute(command);
        return;
      } catch (error) {
        if (error instanceof DomainError) return; // ATTEMPT_NOT_CURRENT: another instance ended it
        if (failures % 10 === 0) this.logger.warn({ err: error, operationId: this.operationId, attempt: this.attempt }, 'recording the attempt outcome failed; retrying');
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  private context(): TaskContext {
    const state = this.writer.state;
    const fields = { operationId: this.operationId, taskType: state.taskType, attempt: this.attempt };
    const logger: TaskLogger = {
      info: (message, extra) => this.logger.log({ ...fields, ...extra, msg: message }),
      warn: (message, extra) => this.logger.warn({ ...fields, ...extra, msg: message }),
      error: (message, extra) => this.logger.error({ ...fields, ...extra, msg: message }),
    };
    return {
      operationId: this.operationId,
      taskType: state.taskType,
      attempt: this.attempt,
      priority: state.priority,
      signal: this.controller.signal,
      logger,
      progress: (percent, message) => this.progress(percent, message ?? null),
      milestone: (message, percent) => this.write({ stage: null, stageStatus: null, percent: percent ?? null, message }),
      stage: (name, fn) => this.stage(name, fn),
    };
  }

  private async write(progress: { stage: string | null; stageStatus: 'started' | 'completed' | 'failed' | null; output?: JsonValue; error?: TaskError; percent: number | null; message: string | null }): Promise<void> {
    const signal = this.controller.signal;
    if (signal.aborted) throw signal.reason;
    try {
      await this.writer.execute({ type: 'RecordProgress', attempt: this.attempt, ...progress, now: new Date() });
    } catch (error) {
      if (error instanceof DomainError) this.abort(supersededAbort());
      throw signal.aborted ? signal.reason : error;
    }
    if (progress.percent !== null) this.publish(progress.percent, progress.message);
  }

  private async stage<T extends JsonValue | void>(name: string, fn: () => Promise<T>): Promise<T> {
    const done = this.writer.state.stages.find((s) => s.name === name && s.status === 'completed');
    if (done) return done.output as T;
    await this.write({ stage: name, stageStatus: 'started', percent: null, message: null });
    let output: T;
    try {
      output = await fn();
    } catch (error) {
      if (!this.controller.signal.aborted) await this.write({ stage: name, stageStatus: 'failed', error: toTaskError(error), percent: null, message: null }).catch(() => undefined);
      throw error;
    }
    if (tooLarge(output)) throw new TaskFailure(`the output of stage ${name} is over ${MAX_OUTPUT_BYTES} bytes of JSON`, { code: 'RESULT_TOO_LARGE', retriable: false });
    await this.write({ stage: name, stageStatus: 'completed', output: (output ?? null) as JsonValue, percent: null, message: null });
    return output;
  }

  /** Throttled: at most one update per interval, the latest wins. */
  private progress(percent: number, message: string | null): void {
    if (this.finishing || !this.publisher) return;
    const clamped = Math.max(0, Math.min(100, Math.round(percent)));
    const now = Date.now();
    if (now - this.lastProgressAt >= PROGRESS_INTERVAL_MS) {
      this.publish(clamped, message);
      return;
    }
    this.pendingProgress = { percent: clamped, message };
    this.progressTimer ??= setTimeout(() => this.flushProgress(), PROGRESS_INTERVAL_MS - (now - this.lastProgressAt));
  }

  private flushProgress(): void {
    if (this.progressTimer) clearTimeout(this.progressTimer);
    this.progressTimer = null;
    const pending = this.pendingProgress;
    this.pendingProgress = null;
    if (pending) this.publish(pending.percent, pending.message);
  }

  private publish(percent: number, message: string | null): void {
    this.lastProgressAt = Date.now();
    this.publisher?.publish({ operationId: this.operationId, taskType: this.writer.state.taskType, attempt: this.attempt, workerId: this.workerId, percent, message, at: new Date().toISOString() });
  }
}
