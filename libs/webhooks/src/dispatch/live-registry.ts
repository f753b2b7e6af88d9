import type { AllSubscription, EventStore } from '@app/event-store';
import type { Logger } from '@nestjs/common';
import { ENDPOINT_STATE_EVENT_TYPES } from '../endpoints/endpoint.decider.js';
import { EndpointRegistry, type RegisteredEndpoint } from './endpoint-registry.js';

/** The endpoints as they are now, kept current by a subscription to their events (every process manager has one). */
export class LiveEndpointRegistry {
  private registry = new EndpointRegistry();
  private subscription: AllSubscription | null = null;
  private stopped = false;
  private resolveReady!: () => void;
  /** Resolves once the registry has read every endpoint event that existed when it started. */
  readonly ready = new Promise<void>((resolve) => (this.resolveReady = resolve));

  constructor(private readonly store: EventStore, private readonly logger: Logger, private readonly onChange: (endpoint: RegisteredEndpoint) => void) {}

  start(): void {
    // An empty store has no endpoint events to wait for (and its subscription has no batch to report).
    void this.store.headPosition().then((head) => head === null && this.resolveReady(), () => undefined);
    const registry = new EndpointRegistry();
    this.subscription = this.store.subscribeToAll({
      fromPosition: 'start',
      filter: { eventTypes: ENDPOINT_STATE_EVENT_TYPES },
      onBatch: async (batch) => {
        for (const event of batch.events) {
          const changed = registry.apply(event);
          if (changed && registry === this.registry) this.onChange(changed);
        }
        if (batch.caughtUp && registry !== this.registry) {
          this.registry = registry;
          for (const endpoint of registry.all()) this.onChange(endpoint);
          this.resolveReady();
        }
      },
      onError: (error) => {
        if (this.stopped) return;
        this.logger.error({ err: error, msg: 'endpoint registry subscription failed; reading again' });
        setTimeout(() => !this.stopped && this.start(), 1000).unref();
      },
    });
  }

  get(id: string): RegisteredEndpoint | undefined {
    return this.registry.get(id);
  }

  all(): IterableIterator<RegisteredEndpoint> {
    return this.registry.all();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.subscription?.close();
  }
}
