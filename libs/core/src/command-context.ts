import type { Actor, EventMetadata } from '@app/event-store';
import { randomUUID } from 'node:crypto';

/** Who asks and why: becomes the metadata of every event a command appends. */
export interface CommandContext {
  actor: Actor;
  correlationId: string;
  causationId: string;
  requestId?: string;
  ip?: string;
  now: Date;
}

export function systemContext(id: string, correlationId: string = randomUUID()): CommandContext {
  return { actor: { kind: 'system', id }, correlationId, causationId: correlationId, now: new Date() };
}

export function metadataOf(ctx: CommandContext): EventMetadata {
  const metadata: EventMetadata = { actor: ctx.actor, correlationId: ctx.correlationId, causationId: ctx.causationId };
  if (ctx.requestId) metadata.requestId = ctx.requestId;
  if (ctx.ip) metadata.ip = ctx.ip;
  return metadata;
}
