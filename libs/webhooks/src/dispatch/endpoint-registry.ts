import type { RecordedEvent } from '@app/event-store';
import { ENDPOINT_STATE_EVENT_TYPES, type EndpointDefinition, type EndpointEvent } from '../endpoints/endpoint.decider.js';
import { eventPatternsMatcher } from '../matching/event-patterns.js';

export interface RegisteredEndpoint {
  id: string;
  status: 'enabled' | 'disabled' | 'deleted';
  definition: EndpointDefinition;
  matchesType: (type: string) => boolean;
  /** Sealed secrets; the previous one signs too until it expires (rotation overlap). */
  secret: string;
  previousSecret: { sealed: string; expiresAt: number } | null;
  /** When it last became enabled: failures before that do not count towards auto-disable. */
  enabledAt: number;
}

const STATE_TYPES: ReadonlySet<string> = new Set(ENDPOINT_STATE_EVENT_TYPES);

/** Endpoints folded from their events; the router keeps one as of its position, each dispatcher a live one. */
export class EndpointRegistry {
  private readonly endpoints = new Map<string, RegisteredEndpoint>();

  static handles(type: string): boolean {
    return STATE_TYPES.has(type);
  }

  /** Returns the endpoint the event changed, if any. */
  apply(recorded: RecordedEvent): RegisteredEndpoint | null {
    if (!STATE_TYPES.has(recorded.type)) return null;
    const event = { type: recorded.type, data: recorded.data } as EndpointEvent;
    const at = recorded.createdAt.getTime();
    if (event.type === 'WebhookEndpointCreated') {
      const d = event.data;
      const created: RegisteredEndpoint = {
        id: d.endpointId,
        status: d.enabled ? 'enabled' : 'disabled',
        definition: d.definition,
        matchesType: eventPatternsMatcher(d.definition.events),
        secret: d.secret,
        previousSecret: null,
        enabledAt: at,
      };
      this.endpoints.set(d.endpointId, created);
      return created;
    }
    const endpoint = this.endpoints.get(event.data.endpointId);
    if (!endpoint) return null;
    switch (event.type) {
      case 'WebhookEndpointUpdated':
        endpoint.definition = event.data.definition;
        endpoint.matchesType = eventPatternsMatcher(event.data.definition.events);
        break;
      case 'WebhookEndpointSecretRotated':
        endpoint.previousSecret = { sealed: event.data.previousSecret, expiresAt: Date.parse(event.data.previousSecretExpiresAt) };
        endpoint.secret = event.data.secret;
        break;
      case 'WebhookEndpointDisabled':
        endpoint.status = 'disabled';
        break;
      case 'WebhookEndpointEnabled':
        endpoint.status = 'enabled';
        endpoint.enabledAt = at;
        break;
      case 'WebhookEndpointDeleted':
        endpoint.status = 'deleted';
        break;
      default:
        break;
    }
    return endpoint;
  }

  get(id: string): RegisteredEndpoint | undefined {
    return this.endpoints.get(id);
  }

  all(): IterableIterator<RegisteredEndpoint> {
    return this.endpoints.values();
  }

  enabled(): RegisteredEndpoint[] {
    return [...this.endpoints.values()].filter((e) => e.status === 'enabled');
  }
}
