import { AuthModule } from '@app/auth';
import type { EnvConfig } from '@app/config';
import { DocStoreModule } from '@app/doc-store';
import { KeyValueModule } from '@app/key-value';
import { ALL_PROJECTIONS } from '@app/read-models';
import { PlatformModule, type PlatformOptions } from '@app/platform';
import { TasksModule } from '@app/tasks';
import { WebhooksModule } from '@app/webhooks';
import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { EVENT_STORE, type EventStore } from '@app/event-store';
import { ProjectionPositions, ProjectionRunner } from '@app/projections';
import { HealthController } from './health.controller.js';
import { MetricsController } from './metrics.controller.js';
import { ApiMetrics, METRICS } from './metrics.js';

export interface ApiModuleOptions {
  config: EnvConfig;
  databaseUrl: string;
  eventStoreFactory?: PlatformOptions['eventStoreFactory'];
}

@Module({})
export class ApiModule {
  static forRoot(options: ApiModuleOptions): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        PlatformModule.forRoot({
          config: options.config,
          databaseUrl: options.databaseUrl,
          projections: ALL_PROJECTIONS,
          runProjections: true,
          applicationName: 'opsledger-api',
          eventStoreFactory: options.eventStoreFactory,
        }),
        TerminusModule.forRoot({ logger: false }),
        AuthModule,
        KeyValueModule,
        DocStoreModule,
        WebhooksModule,
        TasksModule,
      ],
      controllers: [HealthController, MetricsController],
      providers: [
        {
          provide: METRICS,
          inject: [EVENT_STORE, ProjectionPositions, ProjectionRunner],
          useFactory: (store: EventStore, positions: ProjectionPositions, runner: ProjectionRunner) => new ApiMetrics(store, positions, runner),
        },
      ],
    };
  }
}
