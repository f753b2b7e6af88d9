import { plainToInstance, Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, validateSync } from 'class-validator';

const toInt = ({ value }: { value: unknown }) => (value === undefined || value === '' ? undefined : Number(value));

/** Every setting the processes read from the environment; validated at start. */
export class EnvConfig {
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535)
  PORT = 3000;

  @IsOptional() @IsString()
  HOST = '0.0.0.0';

  @IsOptional() @IsString()
  OPSLEDGER_DATA_DIR = './.data';

  @IsOptional() @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_URL must be a postgres:// or postgresql:// URL' })
  DATABASE_URL?: string;

  @IsOptional() @Matches(/^esdb(\+discover)?:\/\//, { message: 'EVENTSTORE_CONNECTION_STRING must be an esdb:// or esdb+discover:// connection string' })
  EVENTSTORE_CONNECTION_STRING?: string;

  @IsOptional() @IsString() @Matches(/^\S{16,512}$/, { message: 'OPSLEDGER_OWNER_TOKEN must be 16 to 512 characters without spaces' })
  OPSLEDGER_OWNER_TOKEN?: string;

  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(120_000)
  OPSLEDGER_CONSISTENCY_TIMEOUT_MS = 5000;

  @IsOptional() @Transform(toInt) @IsInt() @Min(1024) @Max(64 * 1024 * 1024)
  OPSLEDGER_BODY_LIMIT_BYTES = 1024 * 1024;

  @IsOptional() @Transform(toInt) @IsInt() @Min(16) @Max(16 * 1024 * 1024)
  OPSLEDGER_KV_MAX_VALUE_BYTES = 256 * 1024;

  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(1_000_000)
  OPSLEDGER_RATE_LIMIT_PER_MINUTE = 60_000;

  @IsOptional() @Transform(toInt) @IsInt() @Min(2) @Max(500)
  OPSLEDGER_DB_POOL_SIZE = 20;

  @IsOptional() @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';
}

export class ConfigError extends Error {}

/** Parses and validates the environment; the error names every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(new EnvConfig())) if (env[key] !== undefined && env[key] !== '') raw[key] = env[key];
  for (const key of ['DATABASE_URL', 'EVENTSTORE_CONNECTION_STRING', 'OPSLEDGER_OWNER_TOKEN']) if (env[key]) raw[key] = env[key];
  const config = plainToInstance(EnvConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, { forbidUnknownValues: false });
  if (errors.length) {
    const lines = errors.map((e) => `  ${e.property}=${JSON.stringify(env[e.property])}: ${Object.values(e.constraints ?? {}).join('; ')}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return config;
}

export const APP_CONFIG = Symbol('APP_CONFIG');
