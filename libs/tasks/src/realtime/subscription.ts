import { can } from '@app/auth';
import { comparePositions, parsePosition, type Position } from '@app/event-store';
import type { Principal } from '@app/http';
import type { Socket } from 'socket.io';
import { TASK_EXTERNAL_EVENTS } from '../domain/task.external-events.js';
import type { WireEvent } from './wire.js';

/** Dotted names with `*` for any characters: `task.*`, `task.completed`, `task.recurrence.*`. */
export const TYPE_PATTERN = /^[a-z*][a-z0-9.*-]{0,63}$/;

export const TASK_EVENT_NAMES = Object.values(TASK_EXTERNAL_EVENTS).map((m) => m.name);

export function patternToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

export interface LiveEvent {
  wire: WireEvent;
  position: Position;
  operationId: string;
  taskType: string;
}

export function toLiveEvent(wire: WireEvent): LiveEvent {
  const data = wire.data as { operationId: string; taskType: string };
  return { wire, position: parsePosition(wire.position)!, operationId: data.operationId, taskType: data.taskType };
}

/**
 * One `subscribe` of one socket: to one task (and the occurrences of a recurring one) or to event types,
 * always within the caller's scopes. While it replays history it buffers live events; every event is sent
 * at most once, in position order.
 */
export class TaskSubscription {
  replaying = true;
  private buffer: LiveEvent[] = [];
  private readonly allowedTypes = new Map<string, boolean>();

  constructor(
    readonly id: string,
    readonly socket: Socket,
    readonly principal: Principal,
    readonly operationId: string | null,
    readonly patterns: RegExp[] | null,
    /** Everything up to here was sent (or precedes the subscription). */
    public delivered: Position,
  ) {}

  /** Internal event types it can receive (for reading history). */
  internalTypes(): string[] {
    return Object.entries(TASK_EXTERNAL_EVENTS)
      .filter(([, m]) => this.matchesName(m.name))
      .map(([type]) => type);
  }

  matchesName(name: string): boolean {
    return !this.patterns || this.patterns.some((p) => p.test(name));
  }

  matches(operationId: string, taskType: string, name: string): boolean {
    if (this.operationId !== null && operationId !== this.operationId && !operationId.startsWith(`${this.operationId}.`)) return false;
    if (!this.matchesName(name)) return false;
    let allowed = this.allowedTypes.get(taskType);
    if (allowed === undefined) this.allowedTypes.set(taskType, (allowed = can(this.principal, 'tasks:read', taskType)));
    return allowed;
  }

  /** Live event: buffered during replay; sent if it is past what was delivered. Returns whether the socket should get it. */
  offer(event: LiveEvent): boolean {
    if (!this.matches(event.operationId, event.taskType, event.wire.type)) return false;
    if (this.replaying) {
      this.buffer.push(event);
      return false;
    }
    return this.advance(event.position);
  }

  advance(position: Position): boolean {
    if (comparePositions(position, this.delivered) <= 0) return false;
    this.delivered = position;
    return true;
  }

  /** Ends the replay: what was buffered and not yet sent, in order. */
  finishReplay(): LiveEvent[] {
    this.replaying = false;
    const pending = this.buffer.filter((e) => this.advance(e.position));
    this.buffer = [];
    return pending;
  }
}
