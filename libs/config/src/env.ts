import { plainToInstance, Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, Validate, ValidateBy, validateSync, ValidatorConstraint, type ValidatorConstraintInterface } from 'class-validator';
import { isIP } from 'node:net';

const toInt = ({ value }: { value: unknown }) => (value === undefined || value === '' ? undefined : Number(value));

const HOST_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))*$/i;
/** A webhook allow-list entry: a host name (`*.example.com` too), an IP address or a CIDR. */
export function isAllowlistEntry(entry: string): boolean {
  const [address, bits, extra] = entry.split('/');
  if (extra !== undefined) return false;
  const family = isIP(address);
  if (bits === undefined) return family !== 0 || HOST_NAME.test(address);
  return family !== 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}
const IsAllowlist = () =>
  ValidateBy({
    name: 'isAllowlist',
    validator: {
      validate: (v: unknown) => typeof v === 'string' && (v.trim() === '' || v.split(',').every((e) => isAllowlistEntry(e.trim()))),
      defaultMessage: () => 'OPSLEDGER_WEBHOOK_ALLOWLIST must be comma-separated host names, IP addresses or CIDRs (e.g. 127.0.0.1/32,hooks.internal)',
    },
  });

@ValidatorConstraint({ name: 'trustProxy' })
class TrustProxyConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value === 'boolean') return true;
    return typeof value === 'string' && value.split(',').every((part) => /^[0-9a-fA-F.:/]+$/.test(part.trim()));
  }
  defaultMessage(): string {
    return 'OPSLEDGER_TRUST_PROXY must be true, false, or comma-separated proxy addresses/CIDRs';
  }
}

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

  @IsOptional() @Transform(toInt) @IsInt() @Min(16) @Max(16 * 1024 * 1024)
  OPSLEDGER_DOCS_MAX_VALUE_BYTES = 256 * 1024;

  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(1_000_000)
  OPSLEDGER_RATE_LIMIT_PER_MINUTE = 60_000;

  @IsOptional() @Transform(toInt) @IsInt() @Min(2) @Max(500)
  OPSLEDGER_DB_POOL_SIZE = 20;

  /** Trust X-Forwarded-For from proxies: false (default), true, or comma-separated proxy addresses/CIDRs. */
  @IsOptional() @Transform(({ value }) => (value === undefined || value === '' || value === 'false' ? false : value === 'true' ? true : String(value)))
  @Validate(TrustProxyConstraint)
  OPSLEDGER_TRUST_PROXY: boolean | string = false;

  /** AES-256-GCM key for secrets at rest: 32 bytes as base64 or hex; unset: <data dir>/encryption-key, created on first start. */
  @IsOptional() @Matches(/^([A-Za-z0-9+/]{43}=|[A-Za-z0-9_-]{43}|[0-9a-fA-F]{64})$/, { message: 'OPSLEDGER_ENCRYPTION_KEY must be 32 bytes as base64 (44 characters) or hex (64 characters)' })
  OPSLEDGER_ENCRYPTION_KEY?: string;

  /** Hosts and CIDRs webhooks may reach over plain http or at private addresses; production leaves it empty. */
  @IsOptional() @IsAllowlist()
  OPSLEDGER_WEBHOOK_ALLOWLIST = '';

  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(90 * 86_400)
  OPSLEDGER_WEBHOOK_AUTO_DISABLE_AFTER_SECONDS = 5 * 86_400;

  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(1024 * 1024)
  OPSLEDGER_WEBHOOK_RESPONSE_LIMIT_BYTES = 4096;

  @IsOptional() @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';
}

export class ConfigError extends Error {}

/** Parses and validates the environment; the error names every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(new EnvConfig())) if (env[key] !== undefined && env[key] !== '') raw[key] = env[key];
  for (const key of ['DATABASE_URL', 'EVENTSTORE_CONNECTION_STRING', 'OPSLEDGER_OWNER_TOKEN', 'OPSLEDGER_ENCRYPTION_KEY']) if (env[key]) raw[key] = env[key];
  const config = plainToInstance(EnvConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, { forbidUnknownValues: false });
  if (errors.length) {
    const lines = errors.map((e) => `  ${e.property}=${JSON.stringify(env[e.property])}: ${Object.values(e.constraints ?? {}).join('; ')}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return config;
}

export const APP_CONFIG = Symbol('APP_CONFIG');
