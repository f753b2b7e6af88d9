import { can } from '@app/auth';
import { DomainError, ForbiddenError, NotFoundError, ValidationError } from '@app/core';
import type { Pool } from '@app/database';
import { EVENT_STORE, type EventStore, type EventFilter, formatPosition, parsePosition, type Position, START } from '@app/event-store';
import type { Principal } from '@app/http';
import { PG_POOL } from '@app/platform';
import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io';
import { OPERATION_ID, taskStreamId } from '../domain/task-ids.js';
import { SubscriptionHub } from './subscription-hub.js';
import { patternToRegExp, TASK_EVENT_NAMES, TaskSubscription, toLiveEvent, TYPE_PATTERN } from './subscription.js';
import { toWireEvent } from './wire.js';

const PAGE = 500;
const MAX_SUBSCRIPTIONS_PER_SOCKET = 50;

export interface SubscribeAck {
  subscriptionId: string;
  /** The position the subscription has delivered up to: pass it as `since` after a reconnect. */
  position: string;
  /** Events sent from history before going live. */
  replayed: number;
}

interface Request {
  operationId: string | null;
  patterns: RegExp[] | null;
  since: Position | null;
}

function parseRequest(body: unknown): Request {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('subscribe expects an object: {operationId} or {types}, optionally with since', {}, 'INVALID_SUBSCRIPTION');
  const { operationId, types, since, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length) throw new ValidationError(`unknown fields: ${Object.keys(rest).join(', ')}`, {}, 'INVALID_SUBSCRIPTION');
  if (operationId === undefined && types === undefined) throw new ValidationError('give operationId or types', {}, 'INVALID_SUBSCRIPTION');
  if (operationId !== undefined && (typeof operationId !== 'string' || !OPERATION_ID.test(operationId))) throw new ValidationError('operationId is not a task id', {}, 'INVALID_SUBSCRIPTION');
  let patterns: RegExp[] | null = null;
  if (types !== undefined) {
    if (!Array.isArray(types) || types.length === 0 || types.length > 20 || !types.every((t) => typeof t === 'string' && TYPE_PATTERN.test(t))) {
      throw new ValidationError('types must be 1-20 dotted event names or patterns such as task.* or task.completed', {}, 'INVALID_SUBSCRIPTION');
    }
    const regexps = (types as string[]).map(patternToRegExp);
    const unknown = (types as string[]).filter((_, i) => !TASK_EVENT_NAMES.some((n) => regexps[i].test(n)));
    if (unknown.length) throw new ValidationError(`no event of this socket is named ${unknown.join(', ')}; it carries ${TASK_EVENT_NAMES.join(', ')}`, {}, 'UNKNOWN_EVENT_TYPE');
    patterns = regexps;
  }
  let position: Position | null = null;
  if (since !== undefined) {
    position = typeof since === 'string' ? parsePosition(since) : null;
    if (!position) throw new ValidationError('since must be a position such as "1234-5678" from an event or an acknowledgement', {}, 'INVALID_POSITION');
  }
  return { operationId: (operationId as string | undefined) ?? null, patterns, since: position };
}

/** The `subscribe` protocol: check, replay what the client missed from the event store, then go live. */
@Injectable()
export class TaskSubscribeService {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly hub: SubscriptionHub,
  ) {}

  private async taskTypeOf(operationId: string): Promise<string> {
    const { rows } = await this.pool.query<{ type: string }>('SELECT type FROM tasks WHERE operation_id = $1', [operationId]);
    if (rows[0]) return rows[0].type;
    const [first] = await this.store.readStream(taskStreamId(operationId), { maxCount: 1 });
    if (!first) throw new NotFoundError(`task ${operationId} not found`, 'TASK_NOT_FOUND');
    return (first.data as { taskType: string }).taskType;
  }

  async subscribe(socket: Socket, principal: Principal, body: unknown, open: Map<string, TaskSubscription>): Promise<SubscribeAck> {
    const request = parseRequest(body);
    if (!can(principal, 'tasks:read')) throw new ForbiddenError('the token lacks the permission tasks:read', 'INSUFFICIENT_SCOPE');
    if (open.size >= MAX_SUBSCRIPTIONS_PER_SOCKET) throw new DomainError('TOO_MANY_SUBSCRIPTIONS', `at most ${MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions per connection`, 429);
    if (request.operationId) {
      const type = await this.taskTypeOf(request.operationId);
      if (!can(principal, 'tasks:read', type)) throw new ForbiddenError(`the token lacks the permission tasks:read for ${type}`, 'INSUFFICIENT_SCOPE');
    }
    const start = request.since ?? (await this.store.headPosition()) ?? START;
    const subscription = new TaskSubscription(randomUUID(), socket, principal, request.operationId, request.patterns, start);
    open.set(subscription.id, subscription);
    this.hub.add(subscription);
    try {
      const replayed = await this.replay(subscription, start);
      for (const event of subscription.finishReplay()) this.hub.sendTo(subscription, event);
      return { subscriptionId: subscription.id, position: formatPosition(subscription.delivered), replayed };
    } catch (error) {
      open.delete(subscription.id);
      this.hub.remove(subscription);
      throw error;
    }
  }

  private async replay(subscription: TaskSubscription, from: Position): Promise<number> {
    const filter: EventFilter = subscription.operationId ? { streamPrefixes: [taskStreamId(subscription.operationId)] } : { eventTypes: subscription.internalTypes() };
    let sent = 0;
    for (let cursor = from; ; ) {
      const page = await this.store.readAll({ fromPosition: cursor.commit < 0n ? 'start' : cursor, filter, maxCount: PAGE });
      for (const recorded of page) {
        const wire = toWireEvent(recorded);
        if (!wire) continue;
        const event = toLiveEvent(wire);
        if (subscription.matches(event.operationId, event.taskType, wire.type) && subscription.advance(event.position)) {
          this.hub.sendTo(subscription, event);
          sent++;
        }
      }
      if (page.length < PAGE || !subscription.socket.connected) return sent;
      cursor = page[page.length - 1].position;
    }
  }
}

export function ackError(error: unknown): { error: { code: string; message: string } } {
  if (error instanceof DomainError) return { error: { code: error.code, message: error.message } };
  return { error: { code: 'INTERNAL_ERROR', message: 'the subscription failed; try again' } };
}
