import { APP_CONFIG, type EnvConfig } from '@app/config';
import type { ExternalEventCatalog } from '@app/core';
import { createPool, type Pool, runMigrations } from '@app/database';
import { AppendBatcher, EVENT_STORE, type EventStore } from '@app/event-store';
import { DATABASE_URL, PG_POOL } from '@app/platform';
import { type DynamicModule, Inject, Injectable, Logger, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { webhookDispatchMigrations } from './dispatch/dispatch.schema.js';
import { WebhookDispatcher } from './dispatch/dispatcher.js';
import { ReplayWorker } from './dispatch/replay-worker.js';
import { WebhookRouter } from './dispatch/router.js';
import { WebhookHttpClient } from './dispatch/webhook-client.js';
import type { WebhookAllowlist } from './security/address-guard.js';
import type { SecretBox } from './security/secret-box.js';
import { SECRET_BOX, WEBHOOK_ALLOWLIST, WEBHOOK_SECURITY_PROVIDERS } from './webhooks.providers.js';

export const WEBHOOK_EVENT_CATALOG = Symbol('WEBHOOK_EVENT_CATALOG');

function asyncCommitUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `${url.searchParams.get('options') ?? ''} -c synchronous_commit=off`.trim());
  return url.toString();
}

/** Router (one process at a time), dispatcher and replay worker (every process), started after the schema is in place. */
@Injectable()
export class WebhookDelivery implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('webhooks');
  private readonly http: WebhookHttpClient;
  private readonly deliveryPool: Pool | null;
  private readonly claimPool: Pool;
  readonly dispatcher: WebhookDispatcher;
  readonly router: WebhookRouter;
  readonly replays: ReplayWorker;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(EVENT_STORE) store: EventStore,
    @Inject(APP_CONFIG) config: EnvConfig,
    @Inject(DATABASE_URL) databaseUrl: string,
    @Inject(SECRET_BOX) box: SecretBox,
    @Inject(WEBHOOK_ALLOWLIST) allowlist: WebhookAllowlist,
    @Inject(WEBHOOK_EVENT_CATALOG) catalog: ExternalEventCatalog,
  ) {
    this.http = new WebhookHttpClient(allowlist, config.OPSLEDGER_WEBHOOK_RESPONSE_LIMIT_BYTES);
    // Delivery events (Scheduled, Attempted …) are appended without waiting for the WAL flush. Nothing acts on
    // them before a later synchronous commit in the same WAL (the router's checkpoint, the queue completion in
    // webhook_claim), whose flush covers them: a database crash loses them only together with the state that
    // makes the process manager record them again (at worst a repeated send, same webhook-id).
    // The batcher writes at most two batches at a time, and its NOTIFY after them.
    this.deliveryPool = store.kind === 'postgres' ? createPool(asyncCommitUrl(databaseUrl), { max: 3, applicationName: 'opsledger-webhook-appends' }) : null;
    const deliveryAppends = new AppendBatcher(store, this.deliveryPool ?? pool);
    // Claim rounds (outcomes, reads) do not wait for the WAL flush either: losing the last of them in a database
    // crash hands those rows out again (a repeated send, same webhook-id) or repeats their recording. A round that
    // takes or renews an endpoint's lease waits for it (webhook_claim turns synchronous_commit on).
    this.claimPool = createPool(asyncCommitUrl(databaseUrl), { max: 1, applicationName: 'opsledger-webhook-claims' });
    this.dispatcher = new WebhookDispatcher(pool, store, deliveryAppends, box, this.http, this.logger, {
      autoDisableAfterMs: config.OPSLEDGER_WEBHOOK_AUTO_DISABLE_AFTER_SECONDS * 1000,
      connectionString: databaseUrl,
      claimPool: this.claimPool,
    });
    this.replays = new ReplayWorker(pool, store, catalog, (id) => this.dispatcher.endpoint(id), this.logger);
    this.router = new WebhookRouter(pool, store, catalog, databaseUrl, this.logger, () => this.replays.kick(), () => this.dispatcher.wake());
  }

  async onApplicationBootstrap(): Promise<void> {
    await runMigrations(this.pool, webhookDispatchMigrations);
    await this.dispatcher.start();
    this.router.start();
    this.replays.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.router.stop();
    await this.replays.stop();
    await this.dispatcher.stop();
    await this.http.close();
    await this.deliveryPool?.end();
    await this.claimPool.end();
  }
}

@Module({})
export class WebhookDeliveryModule {
  /** catalog: the public event names (libs/read-models EXTERNAL_EVENTS), passed in to keep this library free of the catalogue's imports. */
  static forRoot(options: { catalog: ExternalEventCatalog }): DynamicModule {
    return {
      module: WebhookDeliveryModule,
      providers: [...WEBHOOK_SECURITY_PROVIDERS, { provide: WEBHOOK_EVENT_CATALOG, useValue: options.catalog }, WebhookDelivery],
      exports: [WebhookDelivery],
    };
  }
}
