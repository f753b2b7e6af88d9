import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsISO8601, IsNumber, IsObject, IsOptional, IsString, Length, Matches, Max, Min, ValidateIf } from 'class-validator';
import { EVENT_PATTERN, EVENT_PATTERN_RULES } from '../matching/event-patterns.js';
import { REDACT_PATH } from '../matching/field-path.js';
import { PROVIDERS, type ProviderName } from './endpoint.decider.js';

const STATUSES = ['enabled', 'disabled'] as const;

class WebhookFields {
  @ApiPropertyOptional({
    description: 'Conditions on the event data: {field, op, value} with op eq|ne|gt|gte|lt|lte|in|nin|contains|exists|prefix|glob, combined with {and: []}, {or: []}, {not: {}}; null clears.',
    example: { field: 'path', op: 'glob', value: 'releases/**' },
    nullable: true,
  })
  @IsOptional() @ValidateIf((_o, v) => v !== null) @IsObject()
  filter?: Record<string, unknown> | null;

  @ApiPropertyOptional({ enum: PROVIDERS, default: 'generic', description: 'generic: {type, timestamp, data}; slack and teams: their message formats; custom: the template.' })
  @IsOptional() @IsIn(PROVIDERS)
  provider?: ProviderName;

  @ApiPropertyOptional({ description: 'custom provider: JSON whose "{{path}}" strings are filled from the payload.', example: { text: '{{type}}: {{data.key}}' } })
  @IsOptional()
  template?: unknown;

  @ApiPropertyOptional({ description: 'Extra request headers (not content-type, host, webhook-*).', example: { 'x-environment': 'staging' } })
  @IsOptional() @ValidateIf((_o, v) => v !== null) @IsObject()
  headers?: Record<string, string> | null;

  @ApiPropertyOptional({ minimum: 100, maximum: 30_000, default: 10_000 })
  @IsOptional() @IsInt() @Min(100) @Max(30_000)
  timeoutMs?: number;

  @ApiPropertyOptional({
    description: 'Default: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±20 % jitter).',
    example: { strategy: 'exponential', initialDelaySeconds: 5, maxDelaySeconds: 3600, maxAttempts: 10 },
  })
  @IsOptional() @ValidateIf((_o, v) => v !== null) @IsObject()
  retry?: Record<string, unknown> | null;

  @ApiPropertyOptional({ type: [String], example: ['value.password', '*.token'], description: 'Paths into the event data removed before sending.' })
  @IsOptional() @IsArray() @ArrayMaxSize(50) @Matches(REDACT_PATH, { each: true, message: 'each redact path is dotted field names or * (e.g. value.password)' })
  redact?: string[];

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 10, description: 'Requests in flight to this endpoint, across all process managers.' })
  @IsOptional() @IsInt() @Min(1) @Max(100)
  maxConcurrency?: number;

  @ApiPropertyOptional({ minimum: 0.01, maximum: 10_000, nullable: true, description: 'Requests per second to this endpoint; null: unlimited.' })
  @IsOptional() @ValidateIf((_o, v) => v !== null) @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0.01) @Max(10_000)
  rateLimitPerSecond?: number | null;

  @ApiPropertyOptional({ enum: STATUSES, default: 'enabled' })
  @IsOptional() @IsIn(STATUSES)
  status?: (typeof STATUSES)[number];
}

export class CreateWebhookDto extends WebhookFields {
  @ApiProperty({ example: 'deploy notifications', maxLength: 200 })
  @IsString() @Length(1, 200)
  name: string;

  @ApiProperty({ example: 'https://hooks.example.com/opsledger', description: 'https; plain http and private addresses only for OPSLEDGER_WEBHOOK_ALLOWLIST.' })
  @IsString() @Length(1, 2048)
  url: string;

  @ApiProperty({ type: [String], example: ['task.*', 'doc-store.document.updated'], description: EVENT_PATTERN_RULES })
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(50) @Matches(EVENT_PATTERN, { each: true, message: EVENT_PATTERN_RULES })
  events: string[];
}

/** PATCH: an absent field keeps its value; null clears filter, headers, retry and rateLimitPerSecond. */
export class UpdateWebhookDto extends WebhookFields {
  @ApiPropertyOptional({ example: 'deploy notifications', maxLength: 200 })
  @IsOptional() @IsString() @Length(1, 200)
  name?: string;

  @ApiPropertyOptional({ example: 'https://hooks.example.com/opsledger', description: 'https; plain http and private addresses only for OPSLEDGER_WEBHOOK_ALLOWLIST.' })
  @IsOptional() @IsString() @Length(1, 2048)
  url?: string;

  @ApiPropertyOptional({ type: [String], example: ['task.*', 'doc-store.document.updated'], description: EVENT_PATTERN_RULES })
  @IsOptional() @IsArray() @ArrayMinSize(1) @ArrayMaxSize(50) @Matches(EVENT_PATTERN, { each: true, message: EVENT_PATTERN_RULES })
  events?: string[];

}

export class RotateSecretDto {
  @ApiPropertyOptional({ minimum: 0, maximum: 7 * 86_400, default: 86_400, description: 'How long deliveries are also signed with the old secret.' })
  @IsOptional() @IsInt() @Min(0) @Max(7 * 86_400)
  overlapSeconds?: number;
}

export class TestWebhookDto {
  @ApiPropertyOptional({ description: 'Data of the webhook.test event.', example: { hello: 'world' } })
  @IsOptional()
  data?: unknown;
}

export class ReplayDto {
  @ApiProperty({ example: '2026-12-01T00:00:00Z' })
  @IsISO8601({ strict: true })
  since: string;

  @ApiPropertyOptional({ example: '2026-12-02T00:00:00Z', description: 'Default: now.' })
  @IsOptional() @IsISO8601({ strict: true })
  until?: string;
}

export class TriggerEventDto {
  @ApiProperty({ example: 'deploy.finished', description: 'A dotted lower-case name outside the built-in families (task., doc-store., key-value., auth., salesforce., environment., webhook.).' })
  @IsString() @Length(3, 128) @Matches(/^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$/, { message: 'type must be a dotted lower-case name such as deploy.finished' })
  type: string;

  @ApiPropertyOptional({ description: 'Any JSON; the event data.', example: { org: 'staging', ok: true } })
  @IsOptional()
  data?: unknown;
}

export class ListWebhooksQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional() @IsInt() @Min(1) @Max(500)
  limit?: number;

  @ApiPropertyOptional()
  @IsOptional() @IsString() @Length(1, 512)
  cursor?: string;
}

export class ListDeliveriesQueryDto extends ListWebhooksQueryDto {
  @ApiPropertyOptional({ enum: ['pending', 'succeeded', 'failed', 'cancelled'] })
  @IsOptional() @IsIn(['pending', 'succeeded', 'failed', 'cancelled'])
  status?: string;
}
