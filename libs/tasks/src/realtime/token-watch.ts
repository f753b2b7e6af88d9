import { TOKEN_EVENT_TYPES, tokenProjection, TokenVerifier } from '@app/auth';
import { type AllSubscription, EVENT_STORE, type EventStore } from '@app/event-store';
import { ProjectionPositions } from '@app/projections';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Socket } from 'socket.io';

/**
 * Sockets authenticate once, at the handshake; when their token is revoked or rotated they are checked
 * again as soon as the token read model shows the change, and disconnected if the token no longer holds.
 */
@Injectable()
export class TokenWatch implements OnApplicationShutdown {
  private subscription: AllSubscription | null = null;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly positions: ProjectionPositions,
    private readonly verifier: TokenVerifier,
  ) {}

  /** Started with the first connection: an api node without sockets does not follow token events for this. */
  start(sockets: () => Iterable<Socket>): void {
    if (this.subscription) return;
    this.subscription = this.store.subscribeToAll({
      fromPosition: 'end',
      filter: { eventTypes: TOKEN_EVENT_TYPES },
      onBatch: async ({ events }) => {
        if (!events.length) return;
        await this.positions.waitFor([tokenProjection.name], events[events.length - 1].position, 10_000);
        const changed = new Set(events.map((e) => (e.data as { tokenId: string }).tokenId));
        for (const id of changed) this.verifier.forget(id);
        await Promise.all([...sockets()].map((socket) => this.check(socket, changed)));
      },
    });
  }

  /** Disconnects the socket if its token is gone; with `only`, checks just sockets of those tokens. */
  async check(socket: Socket, only?: Set<string>): Promise<void> {
    const { principal, token } = (socket.data ?? {}) as { principal?: { tokenId?: string }; token?: string };
    if (!token || (only && (!principal?.tokenId || !only.has(principal.tokenId)))) return;
    const still = await this.verifier.verify(token).catch(() => principal);
    if (!still) socket.disconnect(true);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscription?.close();
  }
}
