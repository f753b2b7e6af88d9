import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { Allow, IsBoolean, IsIn, IsInt, IsISO8601, IsOptional, IsString, Length, Matches, Max, Min, ValidateNested } from 'class-validator';
import { PRIORITIES, type Priority, TASK_STATUSES, type TaskStatus } from '../domain/task.events.js';

const DAY_MS = 86_400_000;

export class BackoffDto {
  @ApiPropertyOptional({ minimum: 0, maximum: DAY_MS, default: 1000 })
  @IsOptional() @IsInt() @Min(0) @Max(DAY_MS)
  initialDelayMs?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: DAY_MS, default: 60_000 })
  @IsOptional() @IsInt() @Min(0) @Max(DAY_MS)
  maxDelayMs?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 10, default: 2 })
  @IsOptional() @Min(1) @Max(10)
  multiplier?: number;

  @ApiPropertyOptional({ default: true, description: 'Equal jitter: each delay is drawn from [delay/2, delay).' })
  @IsOptional() @IsBoolean()
  jitter?: boolean;
}

export class RetryDto {
  @ApiProperty({ minimum: 1, maximum: 100, description: 'Attempts in total, the first included.' })
  @IsInt() @Min(1) @Max(100)
  maxAttempts: number;

  @ApiPropertyOptional({ type: BackoffDto })
  @IsOptional() @ValidateNested() @Type(() => BackoffDto)
  backoff?: BackoffDto;
}

export class RecurrenceDto {
  @ApiProperty({ example: '0 */15 * * * *', description: 'Cron with 5 fields, or 6 with seconds first.' })
  @IsString() @Length(9, 128)
  cron: string;

  @ApiPropertyOptional({ default: 'UTC', example: 'Europe/Paris' })
  @IsOptional() @IsString() @Length(1, 64)
  timezone?: string;

  @ApiPropertyOptional({ description: 'No occurrence after this instant.' })
  @IsOptional() @IsISO8601({ strict: true })
  until?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 1_000_000 })
  @IsOptional() @IsInt() @Min(1) @Max(1_000_000)
  maxOccurrences?: number;
}

export class SubmitTaskDto {
  @ApiProperty({ example: 'system.echo' })
  @IsString() @Matches(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/, { message: 'type must be a dotted task type such as system.echo' })
  type: string;

  @ApiPropertyOptional({ description: "The task's input; each type declares its schema (400 if it does not match)." })
  @IsOptional() @Allow()
  data?: unknown;

  @ApiPropertyOptional({ enum: PRIORITIES, default: 'normal' })
  @IsOptional() @IsIn(PRIORITIES)
  priority?: Priority;

  @ApiPropertyOptional({ description: 'Not before this instant (ISO 8601).' })
  @IsOptional() @IsISO8601({ strict: true })
  scheduledFor?: string;

  @ApiPropertyOptional({ type: RecurrenceDto, description: 'Runs an occurrence (its own task, id `<id>.<n>`) at each cron time.' })
  @IsOptional() @ValidateNested() @Type(() => RecurrenceDto)
  recurrence?: RecurrenceDto;

  @ApiPropertyOptional({ type: RetryDto })
  @IsOptional() @ValidateNested() @Type(() => RetryDto)
  retry?: RetryDto;

  @ApiPropertyOptional({ minimum: 1, maximum: DAY_MS, description: 'Per attempt.' })
  @IsOptional() @IsInt() @Min(1) @Max(DAY_MS)
  timeoutMs?: number;

  @ApiPropertyOptional({ description: 'The same key (per token) returns the same task; a different request with it is a 409.' })
  @IsOptional() @Matches(/^[A-Za-z0-9._:-]{1,128}$/, { message: 'idempotencyKey must be 1-128 letters, digits and . _ : -' })
  idempotencyKey?: string;
}

export class SubmitQuery {
  @ApiPropertyOptional({ minimum: 0, maximum: 60, description: 'Seconds to wait for the final result (200); 202 if not finished by then.' })
  @IsOptional() @IsInt() @Min(0) @Max(60)
  wait?: number;
}

export class ListTasksQuery {
  @ApiPropertyOptional({ enum: TASK_STATUSES })
  @IsOptional() @IsIn(TASK_STATUSES)
  status?: TaskStatus;

  @ApiPropertyOptional({ example: 'system.echo' })
  @IsOptional() @IsString() @Length(1, 128)
  type?: string;

  @ApiPropertyOptional({ enum: PRIORITIES })
  @IsOptional() @IsIn(PRIORITIES)
  priority?: Priority;

  @ApiPropertyOptional({ description: 'Occurrences of this recurring task.' })
  @IsOptional() @IsString() @Length(26, 26)
  parentId?: string;

  @ApiPropertyOptional({ description: 'Submitted at or after (ISO 8601).' })
  @IsOptional() @IsISO8601({ strict: true })
  submittedAfter?: string;

  @ApiPropertyOptional({ description: 'Submitted before (ISO 8601).' })
  @IsOptional() @IsISO8601({ strict: true })
  submittedBefore?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional() @IsInt() @Min(1) @Max(1000)
  limit?: number;

  @ApiPropertyOptional()
  @IsOptional() @IsString() @Length(1, 256)
  cursor?: string;
}

export class EventsQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 1000 })
  @IsOptional() @IsInt() @Min(1) @Max(1000)
  limit?: number;
}

export class CancelTaskDto {
  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional() @IsString() @Length(1, 500)
  reason?: string;
}

export class TaskProgressView {
  @ApiProperty({ nullable: true, type: Number }) percent: number | null;
  @ApiProperty({ nullable: true, type: String }) stage: string | null;
  @ApiProperty({ nullable: true, type: String }) message: string | null;
}

export class TaskErrorView {
  @ApiProperty() code: string;
  @ApiProperty() message: string;
  @ApiProperty() retriable: boolean;
}

export class TaskStatusView {
  @ApiProperty() operationId: string;
  @ApiProperty() type: string;
  @ApiProperty({ enum: TASK_STATUSES }) status: TaskStatus;
  @ApiProperty({ enum: PRIORITIES }) priority: Priority;
  @ApiProperty({ type: TaskProgressView, nullable: true }) progress: TaskProgressView | null;
  @ApiProperty() attempts: number;
  @ApiProperty() maxAttempts: number;
  @ApiProperty({ type: TaskErrorView, nullable: true }) error: TaskErrorView | null;
  @ApiProperty() cancelRequested: boolean;
  @ApiProperty() runAt: string;
  @ApiProperty() submittedAt: string;
  @ApiProperty({ nullable: true, type: String }) startedAt: string | null;
  @ApiProperty({ nullable: true, type: String }) finishedAt: string | null;
  @ApiProperty() updatedAt: string;
  @ApiProperty({ nullable: true, type: String }) parentOperationId: string | null;
  @ApiProperty({ nullable: true, description: '{cron, timezone, until, maxOccurrences, occurrences, nextRunAt, stopped, lastOccurrenceId}' })
  recurrence: Record<string, unknown> | null;
}

export class TaskStageView {
  @ApiProperty() name: string;
  @ApiProperty({ enum: ['running', 'completed', 'failed'] }) status: string;
  @ApiProperty() attempt: number;
  @ApiProperty({ nullable: true }) output: unknown;
  @ApiProperty({ type: TaskErrorView, nullable: true }) error: TaskErrorView | null;
  @ApiProperty() startedAt: string;
  @ApiProperty({ nullable: true, type: String }) finishedAt: string | null;
}

export class TaskResultView {
  @ApiProperty() operationId: string;
  @ApiProperty() type: string;
  @ApiProperty({ enum: TASK_STATUSES }) status: TaskStatus;
  @ApiProperty({ nullable: true, description: 'The direct result; null until completed.' }) result: unknown;
  @ApiProperty({ type: TaskErrorView, nullable: true }) error: TaskErrorView | null;
  @ApiProperty({ type: [TaskStageView], description: 'Staged results: one entry per stage, in the order they started.' }) stages: TaskStageView[];
}
