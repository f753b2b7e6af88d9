import { AuthModule } from '@app/auth';
import { Module } from '@nestjs/common';
import { TaskLiveFeed } from './live-feed.js';
import { TaskSubscribeService } from './subscribe.service.js';
import { SubscriptionHub } from './subscription-hub.js';
import { TaskEventsGateway } from './task-events.gateway.js';
import { TokenWatch } from './token-watch.js';

/** The api node's Socket.IO side: gateway, subscriptions, the live feed from the process manager. */
@Module({
  imports: [AuthModule],
  providers: [SubscriptionHub, TaskLiveFeed, TaskSubscribeService, TokenWatch, TaskEventsGateway],
})
export class TaskRealtimeModule {}
