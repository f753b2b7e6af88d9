import { APP_CONFIG, type EnvConfig } from '@app/config';
import { createPool, type Migration, type Pool, runMigrations } from '@app/database';
import { createEventStore, EVENT_STORE, type EventStore, eventStoreMigrations } from '@app/event-store';
import { type Projection, projectionMigrations, ProjectionPositions, ProjectionRunner, PROJECTIONS } from '@app/projections';
import { type DynamicModule, Global, Inject, Injectable, Logger, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { CommandExecutor } from './command-executor.js';
import { DATABASE_URL, PG_POOL } from './tokens.js';

export interface PlatformOptions {
  config: EnvConfig;
  databaseUrl: string;
  projections: Projection[];
  /** Tables beyond projections (operational tables, process-manager state). */
  migrations?: Migration[];
  /** The api runs projections; the process manager does not. */
  runProjections: boolean;
  applicationName: string;
  /** Builds the event store; default: EventStoreDB when EVENTSTORE_CONNECTION_STRING is set, else PostgreSQL. */
  eventStoreFactory?: (pool: Pool, config: EnvConfig, databaseUrl: string) => EventStore;
}

export const PLATFORM_OPTIONS = Symbol('PLATFORM_OPTIONS');

@Injectable()
class PlatformLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('platform');
  constructor(
    @Inject(PLATFORM_OPTIONS) private readonly options: PlatformOptions,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly positions: ProjectionPositions,
    private readonly runner: ProjectionRunner,
  ) {}

  async onModuleInit(): Promise<void> {
    const migrations = [
      ...eventStoreMigrations,
      ...projectionMigrations,
      ...this.options.projections.flatMap((p) => p.migrations),
      ...(this.options.migrations ?? []),
    ];
    const applied = await runMigrations(this.pool, migrations);
    if (applied.length) this.logger.log({ applied }, 'migrations applied');
    await this.positions.start();
    if (this.options.runProjections) await this.runner.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.runner.stop();
    await this.positions.close();
    await this.store.close();
    await this.pool.end();
  }
}

@Global()
@Module({})
export class PlatformModule {
  static forRoot(options: PlatformOptions): DynamicModule {
    return {
      module: PlatformModule,
      imports: [CqrsModule.forRoot()],
      providers: [
        { provide: PLATFORM_OPTIONS, useValue: options },
        { provide: APP_CONFIG, useValue: options.config },
        { provide: DATABASE_URL, useValue: options.databaseUrl },
        { provide: PROJECTIONS, useValue: options.projections },
        {
          provide: PG_POOL,
          useFactory: () => createPool(options.databaseUrl, { max: options.config.OPSLEDGER_DB_POOL_SIZE, applicationName: options.applicationName }),
        },
        {
          provide: EVENT_STORE,
          inject: [PG_POOL],
          useFactory: (pool: Pool) =>
            options.eventStoreFactory
              ? options.eventStoreFactory(pool, options.config, options.databaseUrl)
              : createEventStore({ eventStoreConnectionString: options.config.EVENTSTORE_CONNECTION_STRING, pool, databaseUrl: options.databaseUrl }),
        },
        {
          provide: ProjectionPositions,
          inject: [PG_POOL],
          useFactory: (pool: Pool) => new ProjectionPositions(pool, options.databaseUrl),
        },
        {
          provide: ProjectionRunner,
          inject: [PG_POOL, EVENT_STORE, ProjectionPositions],
          useFactory: (pool: Pool, store: EventStore, positions: ProjectionPositions) => {
            const logger = new Logger('projections');
            const log = {
              info: (o: object, m: string) => logger.log({ ...o, msg: m }),
              warn: (o: object, m: string) => logger.warn({ ...o, msg: m }),
              error: (o: object, m: string) => logger.error({ ...o, msg: m }),
            };
            return new ProjectionRunner(pool, store, options.projections, positions, options.databaseUrl, log);
          },
        },
        CommandExecutor,
        PlatformLifecycle,
      ],
      exports: [APP_CONFIG, DATABASE_URL, PG_POOL, EVENT_STORE, PROJECTIONS, ProjectionPositions, ProjectionRunner, CommandExecutor, CqrsModule],
    };
  }
}
