import { ValidationError } from '@app/core';
import type { JsonValue } from '@app/event-store';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../deliveries/retry-policy.js';
import { parseDataFilter } from '../matching/data-filter.js';
import { targetUrlProblem, type WebhookAllowlist } from '../security/address-guard.js';
import type { EndpointDefinition, ProviderName } from './endpoint.decider.js';

/** What a create or update request may set (already shape-checked by the DTO). */
export interface DefinitionInput {
  name?: string;
  url?: string;
  events?: string[];
  filter?: unknown;
  provider?: ProviderName;
  template?: unknown;
  headers?: unknown;
  timeoutMs?: number;
  retry?: unknown;
  redact?: string[];
  maxConcurrency?: number;
  rateLimitPerSecond?: number | null;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_CONCURRENCY = 10;

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
const HEADER_VALUE = /^[\t\x20-\x7e\u0080-\uffff]{0,1024}$/;
/** Set by the dispatcher or by HTTP itself. */
const RESERVED_HEADERS = /^(content-type|content-length|host|connection|keep-alive|transfer-encoding|upgrade|te|trailer|expect|proxy-.*|webhook-.*)$/i;

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function parseHeaders(input: unknown): Record<string, string> {
  const fail = (message: string, field = 'headers'): never => {
    throw new ValidationError(message, { field }, 'INVALID_HEADERS');
  };
  if (input === undefined || input === null) return {};
  if (!isRecord(input)) fail('headers must be an object of header names to string values');
  const entries = Object.entries(input as Record<string, unknown>);
  if (entries.length > 20) fail('at most 20 custom headers');
  const seen = new Set<string>();
  for (const [name, value] of entries) {
    if (!HEADER_NAME.test(name)) fail(`header name ${JSON.stringify(name.slice(0, 64))} is not a valid HTTP header name`, `headers.${name}`);
    if (RESERVED_HEADERS.test(name)) fail(`header ${name} is set by the dispatcher and cannot be configured`, `headers.${name}`);
    if (seen.has(name.toLowerCase())) fail(`header ${name} is given twice`, `headers.${name}`);
    seen.add(name.toLowerCase());
    if (typeof value !== 'string' || !HEADER_VALUE.test(value)) fail(`header ${name} must be a string of at most 1024 characters without line breaks`, `headers.${name}`);
  }
  return input as Record<string, string>;
}

const isDelay = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= max && Math.round(v * 1000) === v * 1000;

export function parseRetryPolicy(input: unknown): RetryPolicy {
  const fail = (message: string): never => {
    throw new ValidationError(`retry: ${message}`, { field: 'retry' }, 'INVALID_RETRY_POLICY');
  };
  if (input === undefined || input === null) return DEFAULT_RETRY_POLICY;
  if (!isRecord(input)) return fail('must be {strategy: "schedule", delaysSeconds: [...]} or {strategy: "exponential", initialDelaySeconds, maxDelaySeconds, maxAttempts}');
  if (input.strategy === 'schedule') {
    const extra = Object.keys(input).filter((k) => !['strategy', 'delaysSeconds'].includes(k));
    if (extra.length) fail(`unknown key ${extra[0]}`);
    const delays = input.delaysSeconds;
    if (!Array.isArray(delays) || delays.length > 20 || !delays.every((d) => isDelay(d, 7 * 86_400))) {
      fail('delaysSeconds must be at most 20 delays between 0 and 604800 seconds (millisecond precision); [] means no retries');
    }
    return { strategy: 'schedule', delaysSeconds: delays as number[] };
  }
  if (input.strategy === 'exponential') {
    const extra = Object.keys(input).filter((k) => !['strategy', 'initialDelaySeconds', 'maxDelaySeconds', 'maxAttempts'].includes(k));
    if (extra.length) fail(`unknown key ${extra[0]}`);
    const { initialDelaySeconds: initial, maxDelaySeconds: max, maxAttempts } = input;
    if (!isDelay(initial, 86_400) || initial <= 0) fail('initialDelaySeconds must be above 0 and at most 86400');
    if (!isDelay(max, 7 * 86_400) || (max as number) < (initial as number)) fail('maxDelaySeconds must be at least initialDelaySeconds and at most 604800');
    if (typeof maxAttempts !== 'number' || !Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 30) fail('maxAttempts must be an integer from 1 to 30');
    return { strategy: 'exponential', initialDelaySeconds: initial as number, maxDelaySeconds: max as number, maxAttempts: maxAttempts as number };
  }
  return fail('strategy must be schedule or exponential');
}

function parseTemplate(input: unknown, provider: ProviderName): JsonValue | null {
  if (provider !== 'custom') {
    if (input !== undefined && input !== null) throw new ValidationError('template is only used by the custom provider', { field: 'template' }, 'INVALID_TEMPLATE');
    return null;
  }
  if (input === undefined || input === null) throw new ValidationError('the custom provider needs a template (JSON with {{type}}, {{data.field}} … placeholders)', { field: 'template' }, 'INVALID_TEMPLATE');
  if (JSON.stringify(input).length > 16_384) throw new ValidationError('template is larger than 16 KiB', { field: 'template' }, 'INVALID_TEMPLATE');
  return input as JsonValue;
}

/** A complete, checked definition: the request on top of the current one (update) or of the defaults (create). */
export function buildDefinition(input: DefinitionInput, base: EndpointDefinition | null, allowlist: WebhookAllowlist): EndpointDefinition {
  const pick = <K extends keyof DefinitionInput>(key: K): DefinitionInput[K] | undefined => input[key] ?? undefined;
  const name = pick('name') ?? base?.name;
  const url = pick('url') ?? base?.url;
  const events = pick('events') ?? base?.events;
  if (!name || !url || !events) throw new ValidationError('name, url and events are required', { field: !name ? 'name' : !url ? 'url' : 'events' });
  const urlProblem = targetUrlProblem(url, allowlist);
  if (urlProblem) throw new ValidationError(urlProblem, { field: 'url' }, 'INVALID_WEBHOOK_URL');
  const provider = pick('provider') ?? base?.provider ?? 'generic';
  // In a PATCH, an absent field keeps its value and null clears it.
  const keep = <T>(value: unknown, current: T, parse: (v: unknown) => T, cleared: T): T => (value === undefined ? current : value === null ? cleared : parse(value));
  const sameProvider = provider === base?.provider;
  return {
    name,
    url,
    events: [...new Set(events)],
    filter: keep(input.filter, base?.filter ?? null, (v) => parseDataFilter(v), null),
    provider,
    template: parseTemplate(input.template === undefined && sameProvider ? base?.template : input.template, provider),
    headers: keep(input.headers, base?.headers ?? {}, parseHeaders, {}),
    timeoutMs: pick('timeoutMs') ?? base?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    retry: keep(input.retry, base?.retry ?? DEFAULT_RETRY_POLICY, parseRetryPolicy, DEFAULT_RETRY_POLICY),
    redact: pick('redact') ?? base?.redact ?? [],
    maxConcurrency: pick('maxConcurrency') ?? base?.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
    rateLimitPerSecond: keep(input.rateLimitPerSecond, base?.rateLimitPerSecond ?? null, (v) => v as number, null),
  };
}
