import { TOKEN_EXTERNAL_EVENTS, tokenProjection } from '@app/auth';
import type { ExternalEventCatalog } from '@app/core';
import { DOC_STORE_EXTERNAL_EVENTS, docStoreProjection } from '@app/doc-store';
import { KEY_VALUE_EXTERNAL_EVENTS, keyValueProjection } from '@app/key-value';
import type { Projection } from '@app/projections';
import { WEBHOOK_EXTERNAL_EVENTS, webhookDeliveryProjection, webhookEndpointProjection } from '@app/webhooks';
import { TASK_EXTERNAL_EVENTS, taskProjection } from '@app/tasks';

/** Every projection of the product: the api runs them, the process manager and the CLI know their tables. */
export const ALL_PROJECTIONS: Projection[] = [tokenProjection, keyValueProjection, docStoreProjection, webhookEndpointProjection, webhookDeliveryProjection, taskProjection];

/** Internal event type → public dotted name and data, for webhooks and Socket.IO (BRIEF §4). */
export const EXTERNAL_EVENTS: ExternalEventCatalog = {
  ...TOKEN_EXTERNAL_EVENTS,
  ...KEY_VALUE_EXTERNAL_EVENTS,
  ...DOC_STORE_EXTERNAL_EVENTS,
  ...WEBHOOK_EXTERNAL_EVENTS,
  ...TASK_EXTERNAL_EVENTS,
};
