import type { RecordedEvent } from '@app/event-store';

/** How an internal event (PascalCase, in the store) leaves the system: a stable dotted name and its data. */
export interface ExternalEventMapping {
  name: string;
  /** A name taken from the event itself (custom events); overrides `name`. */
  nameOf?(event: RecordedEvent): string;
  /** Shapes the public data (drop secrets, internal fields); default: the event data as is. */
  data?(event: RecordedEvent): unknown;
}

export type ExternalEventCatalog = Readonly<Record<string, ExternalEventMapping>>;

/** The `{type, timestamp, data}` payload webhooks and Socket.IO send. */
export interface ExternalEvent {
  type: string;
  timestamp: string;
  data: unknown;
}

export function toExternalEvent(catalog: ExternalEventCatalog, event: RecordedEvent): ExternalEvent | null {
  const mapping = catalog[event.type];
  if (!mapping) return null;
  return { type: mapping.nameOf ? mapping.nameOf(event) : mapping.name, timestamp: event.createdAt.toISOString(), data: mapping.data ? mapping.data(event) : event.data };
}
