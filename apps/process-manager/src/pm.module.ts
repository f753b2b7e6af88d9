import type { EnvConfig } from '@app/config';
import { KeyValueExpiryWorker } from '@app/key-value';
import { PlatformModule, type PlatformOptions } from '@app/platform';
import { ALL_PROJECTIONS, EXTERNAL_EVENTS } from '@app/read-models';
import { WebhookDeliveryModule } from '@app/webhooks';
import { TaskWorkerModule } from '@app/tasks';
import { type DynamicModule, Module } from '@nestjs/common';

export interface ProcessManagerOptions {
  config: EnvConfig;
  databaseUrl: string;
  eventStoreFactory?: PlatformOptions['eventStoreFactory'];
}

/** The process manager: reacts to events and time; everything it does is recorded as events. */
@Module({})
export class ProcessManagerModule {
  static forRoot(options: ProcessManagerOptions): DynamicModule {
    return {
      module: ProcessManagerModule,
      imports: [
        PlatformModule.forRoot({
          config: options.config,
          databaseUrl: options.databaseUrl,
          projections: ALL_PROJECTIONS,
          runProjections: false,
          applicationName: 'opsledger-process-manager',
          eventStoreFactory: options.eventStoreFactory,
        }),
        WebhookDeliveryModule.forRoot({ catalog: EXTERNAL_EVENTS }),
        TaskWorkerModule,
      ],
      providers: [KeyValueExpiryWorker],
    };
  }
}
