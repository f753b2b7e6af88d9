import type { JsonValue } from '@app/event-store';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Allow, ArrayMaxSize, IsArray, IsBoolean, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { TaskFailure, TaskType, type TaskContext, type TaskHandler } from '../registry/task-type.js';
import { abortableSleep } from './abortable-sleep.js';

export class EchoData {
  @ApiPropertyOptional({ description: 'Any JSON; returned as the result.' })
  @IsOptional() @Allow()
  value?: JsonValue;
}

@TaskType({ type: 'system.echo', description: 'Returns its data as the result (diagnostics, no-op benchmarks).', schema: EchoData, timeoutMs: 10_000 })
export class EchoTask implements TaskHandler<EchoData> {
  async run(data: EchoData): Promise<JsonValue> {
    return { echo: data.value ?? null };
  }
}

export class SleepData {
  @ApiProperty({ minimum: 0, maximum: 3_600_000 })
  @IsInt() @Min(0) @Max(3_600_000)
  durationMs: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 10, description: 'Progress updates (broadcast, not stored).' })
  @IsOptional() @IsInt() @Min(1) @Max(1000)
  steps?: number;

  @ApiPropertyOptional({ type: [String], description: 'Named stages sharing the duration; each is stored with its output.' })
  @IsOptional() @IsArray() @ArrayMaxSize(20) @IsString({ each: true }) @Matches(/^[\w.-]{1,64}$/, { each: true, message: 'stage names are 1-64 letters, digits, . _ -' })
  stages?: string[];
}

@TaskType({ type: 'system.sleep', description: 'Sleeps, reporting progress; with stages, stores each stage (diagnostics).', schema: SleepData, timeoutMs: 3_600_000 })
export class SleepTask implements TaskHandler<SleepData> {
  async run(data: SleepData, ctx: TaskContext): Promise<JsonValue> {
    const stages = data.stages?.length ? data.stages : null;
    if (!stages) {
      await this.sleep(data.durationMs, data.steps ?? 10, 0, 100, ctx);
      return { sleptMs: data.durationMs };
    }
    const share = data.durationMs / stages.length;
    const outputs: Record<string, JsonValue> = {};
    for (const [i, name] of stages.entries()) {
      outputs[name] = await ctx.stage(name, async () => {
        await this.sleep(share, data.steps ?? 10, (100 * i) / stages.length, 100 / stages.length, ctx);
        return { sleptMs: Math.round(share), attempt: ctx.attempt };
      });
      await ctx.milestone(`stage ${name} done`, Math.round((100 * (i + 1)) / stages.length));
    }
    return { sleptMs: data.durationMs, stages: outputs };
  }

  private async sleep(ms: number, steps: number, from: number, span: number, ctx: TaskContext): Promise<void> {
    for (let step = 1; step <= steps; step++) {
      await abortableSleep(ms / steps, ctx.signal);
      ctx.progress(Math.round(from + (span * step) / steps), `step ${step}/${steps}`);
    }
  }
}

export class FailData {
  @ApiPropertyOptional({ default: 'requested failure' })
  @IsOptional() @IsString() @Length(1, 1000)
  message?: string;

  @ApiPropertyOptional({ default: 'REQUESTED_FAILURE' })
  @IsOptional() @Matches(/^[A-Z][A-Z0-9_]{0,63}$/, { message: 'code must be UPPER_SNAKE_CASE' })
  code?: string;

  @ApiPropertyOptional({ description: 'Fail only the first N attempts, then succeed (retry tests). Default: every attempt.' })
  @IsOptional() @IsInt() @Min(0) @Max(1000)
  failAttempts?: number;

  @ApiPropertyOptional({ default: true })
  @IsOptional() @IsBoolean()
  retriable?: boolean;

  @ApiPropertyOptional({ description: 'Work before failing.' })
  @IsOptional() @IsInt() @Min(0) @Max(600_000)
  delayMs?: number;
}

@TaskType({ type: 'system.fail', description: 'Fails with the given error (optionally only the first N attempts).', schema: FailData, timeoutMs: 700_000 })
export class FailTask implements TaskHandler<FailData> {
  async run(data: FailData, ctx: TaskContext): Promise<JsonValue> {
    if (data.delayMs) await abortableSleep(data.delayMs, ctx.signal);
    if (data.failAttempts === undefined || ctx.attempt <= data.failAttempts) {
      throw new TaskFailure(data.message ?? 'requested failure', { code: data.code ?? 'REQUESTED_FAILURE', retriable: data.retriable ?? true });
    }
    return { succeededOnAttempt: ctx.attempt };
  }
}

export const SYSTEM_TASK_TYPES = [EchoTask, SleepTask, FailTask];
