import type { ExternalEvent } from '@app/core';
import type { JsonValue } from '@app/event-store';
import type { ProviderName } from '../endpoints/endpoint.decider.js';
import { readPath } from '../matching/field-path.js';

export interface FormattedBody {
  contentType: string;
  body: string;
}

/**
 * Shapes the `{type, timestamp, data}` payload for a receiver. To add a provider: write a function here,
 * add its name to PROVIDERS in endpoint.decider.ts and to this map. Without code, `custom` renders the
 * endpoint's template (see renderTemplate).
 */
export type WebhookProvider = (event: ExternalEvent, template: JsonValue | null) => FormattedBody;

const json = (value: unknown): FormattedBody => ({ contentType: 'application/json', body: JSON.stringify(value) });

function summary(event: ExternalEvent, limit: number): string {
  const text = JSON.stringify(event.data, null, 2) ?? 'null';
  return text.length > limit ? `${text.slice(0, limit)}\n…` : text;
}

/** Slack incoming webhooks: text for notifications, blocks for the message. */
const slack: WebhookProvider = (event) =>
  json({
    text: `${event.type} at ${event.timestamp}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${event.type}*` } },
      { type: 'section', text: { type: 'mrkdwn', text: '```' + summary(event, 2800) + '```' } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `OpsLedger · ${event.timestamp}` }] },
    ],
  });

/** Microsoft Teams (incoming webhooks and workflows): a message with an Adaptive Card. */
const teams: WebhookProvider = (event) =>
  json({
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            { type: 'TextBlock', size: 'Medium', weight: 'Bolder', text: event.type },
            { type: 'TextBlock', isSubtle: true, spacing: 'None', text: event.timestamp },
            { type: 'TextBlock', wrap: true, fontType: 'Monospace', text: summary(event, 4000) },
          ],
        },
      },
    ],
  });

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_$@.-]+)\s*\}\}/g;

/**
 * `custom`: a JSON template; a string that is exactly `{{path}}` becomes the value at that path of the
 * payload (`type`, `timestamp`, `data`, `data.key` …), placeholders inside longer strings are replaced by text.
 */
export function renderTemplate(template: JsonValue, event: ExternalEvent): JsonValue {
  if (typeof template === 'string') {
    const whole = /^\{\{\s*([A-Za-z0-9_$@.-]+)\s*\}\}$/.exec(template);
    if (whole) return (readPath(event, whole[1]) ?? null) as JsonValue;
    return template.replace(PLACEHOLDER, (_m, path: string) => {
      const value = readPath(event, path);
      return value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
    });
  }
  if (Array.isArray(template)) return template.map((item) => renderTemplate(item, event));
  if (template && typeof template === 'object') return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, renderTemplate(v, event)]));
  return template;
}

export const WEBHOOK_PROVIDERS: Record<ProviderName, WebhookProvider> = {
  generic: (event) => json(event),
  slack,
  teams,
  custom: (event, template) => json(renderTemplate(template ?? '{{data}}', event)),
};
