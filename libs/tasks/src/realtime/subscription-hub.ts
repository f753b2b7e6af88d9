import { Injectable } from '@nestjs/common';
import type { Server } from 'socket.io';
import type { LiveEvent, TaskSubscription } from './subscription.js';
import type { ProgressMessage } from './wire.js';

/** Every subscription on this api node; delivers live events to the sockets whose subscriptions match. */
@Injectable()
export class SubscriptionHub {
  private readonly subscriptions = new Set<TaskSubscription>();
  private server: Server | null = null;

  attach(server: Server): void {
    this.server = server;
  }

  add(subscription: TaskSubscription): void {
    this.subscriptions.add(subscription);
  }

  remove(subscription: TaskSubscription): void {
    this.subscriptions.delete(subscription);
  }

  removeSocket(socketId: string): void {
    for (const s of this.subscriptions) if (s.socket.id === socketId) this.subscriptions.delete(s);
  }

  get size(): number {
    return this.subscriptions.size;
  }

  deliver(event: LiveEvent): void {
    const sockets = new Set<string>();
    for (const s of this.subscriptions) if (s.offer(event)) sockets.add(s.socket.id);
    this.emit(sockets, event.wire.type, event.wire);
  }

  /** Fine-grained progress: to live subscriptions that want task.progressed, without a position (never replayed). */
  deliverProgress(message: ProgressMessage): void {
    for (const update of message.updates) {
      const sockets = new Set<string>();
      for (const s of this.subscriptions) {
        if (!s.replaying && s.matches(update.operationId, update.taskType, 'task.progressed')) sockets.add(s.socket.id);
      }
      this.emit(sockets, 'task.progressed', {
        type: 'task.progressed',
        timestamp: update.at,
        position: null,
        data: { operationId: update.operationId, taskType: update.taskType, attempt: update.attempt, workerId: update.workerId, percent: update.percent, message: update.message, stored: false },
      });
    }
  }

  /** One encode for all sockets; local: the other api nodes deliver to their own sockets themselves. */
  private emit(sockets: Set<string>, name: string, payload: unknown): void {
    if (!sockets.size || !this.server) return;
    this.server.local.to([...sockets]).emit(name, payload);
  }

  sendTo(subscription: TaskSubscription, event: LiveEvent): void {
    subscription.socket.emit(event.wire.type, event.wire);
  }
}
