import { ConfigError } from '@app/config';
import { plainToInstance, Transform } from 'class-transformer';
import { IsInt, IsOptional, Matches, Max, Min, validateSync } from 'class-validator';

const toInt = ({ value }: { value: unknown }) => (value === undefined || value === '' ? undefined : Number(value));

/** Settings of the task scheduler in the process manager; validated at start like the rest of the config. */
export class TasksConfig {
  /** Attempts one process-manager instance runs at the same time. */
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(1000)
  OPSLEDGER_TASKS_CONCURRENCY = 16;

  /** Slots only critical tasks may use, so critical work never waits behind other work. */
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(999)
  OPSLEDGER_TASKS_RESERVED_CRITICAL = 4;

  /** Further slots batch tasks may not use (batch only takes idle capacity). */
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(999)
  OPSLEDGER_TASKS_RESERVED_NORMAL = 2;

  /** A worker that has not renewed its lease for this long is dead; its attempts are retried elsewhere. */
  @IsOptional() @Transform(toInt) @IsInt() @Min(500) @Max(3_600_000)
  OPSLEDGER_TASKS_LEASE_MS = 30_000;

  /** How long a graceful stop waits for running attempts before giving them back. */
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(600_000)
  OPSLEDGER_TASKS_SHUTDOWN_GRACE_MS = 10_000;

  /** Per-type limits per instance, overriding the types' own: `doc-store.export=1,system.sleep=8`. */
  @IsOptional() @Matches(/^([a-z][a-z0-9.-]*=\d{1,4})(,[a-z][a-z0-9.-]*=\d{1,4})*$/, { message: 'use type=limit pairs separated by commas, e.g. doc-store.export=1,system.sleep=8' })
  OPSLEDGER_TASKS_TYPE_CONCURRENCY: string | undefined = undefined;

  typeLimits(): Map<string, number> {
    if (!this.OPSLEDGER_TASKS_TYPE_CONCURRENCY) return new Map();
    return new Map(this.OPSLEDGER_TASKS_TYPE_CONCURRENCY.split(',').map((pair) => {
      const [type, limit] = pair.split('=');
      return [type, Number(limit)] as const;
    }));
  }
}

export function loadTasksConfig(env: NodeJS.ProcessEnv = process.env): TasksConfig {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(new TasksConfig())) if (env[key] !== undefined && env[key] !== '') raw[key] = env[key];
  const config = plainToInstance(TasksConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, { forbidUnknownValues: false });
  const lines = errors.map((e) => `  ${e.property}=${JSON.stringify(env[e.property])}: ${Object.values(e.constraints ?? {}).join('; ')}`);
  if (!errors.length && config.OPSLEDGER_TASKS_RESERVED_CRITICAL + config.OPSLEDGER_TASKS_RESERVED_NORMAL >= config.OPSLEDGER_TASKS_CONCURRENCY) {
    lines.push(`  OPSLEDGER_TASKS_RESERVED_CRITICAL + OPSLEDGER_TASKS_RESERVED_NORMAL must be below OPSLEDGER_TASKS_CONCURRENCY (${config.OPSLEDGER_TASKS_CONCURRENCY})`);
  }
  if (lines.length) throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  return config;
}

export const TASKS_CONFIG = Symbol('TASKS_CONFIG');
