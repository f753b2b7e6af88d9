import { Module } from '@nestjs/common';
import { TriggerEventHandler } from './custom-events.js';
import { RedeliverHandler } from './deliveries/deliveries.commands.js';
import { DeliveriesController } from './deliveries/deliveries.controller.js';
import { GetDeliveryHandler, ListDeliveriesHandler } from './deliveries/deliveries.queries.js';
import {
  CreateWebhookHandler,
  DeleteWebhookHandler,
  ReplayWebhookHandler,
  RotateWebhookSecretHandler,
  TestWebhookHandler,
  UpdateWebhookHandler,
} from './endpoints/webhooks.commands.js';
import { WebhooksController } from './endpoints/webhooks.controller.js';
import { GetWebhookHandler, ListWebhooksHandler } from './endpoints/webhooks.queries.js';
import { WEBHOOK_SECURITY_PROVIDERS } from './webhooks.providers.js';

/** The api side: endpoints, tracking, custom events. Delivery runs in the process manager (WebhookDeliveryModule). */
@Module({
  controllers: [DeliveriesController, WebhooksController],
  providers: [
    ...WEBHOOK_SECURITY_PROVIDERS,
    CreateWebhookHandler,
    UpdateWebhookHandler,
    RotateWebhookSecretHandler,
    DeleteWebhookHandler,
    TestWebhookHandler,
    ReplayWebhookHandler,
    TriggerEventHandler,
    RedeliverHandler,
    GetWebhookHandler,
    ListWebhooksHandler,
    ListDeliveriesHandler,
    GetDeliveryHandler,
  ],
})
export class WebhooksModule {}
