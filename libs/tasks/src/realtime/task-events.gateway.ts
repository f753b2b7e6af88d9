import { can, Public, TokenVerifier } from '@app/auth';
import { createPool, type Pool } from '@app/database';
import type { Principal } from '@app/http';
import { DATABASE_URL } from '@app/platform';
import { Inject, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ConnectedSocket, MessageBody, type OnGatewayDisconnect, type OnGatewayInit, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { createAdapter } from '@socket.io/postgres-adapter';
import type { Server, Socket } from 'socket.io';
import { TaskLiveFeed } from './live-feed.js';
import { TokenWatch } from './token-watch.js';
import { ackError, TaskSubscribeService } from './subscribe.service.js';
import { SubscriptionHub } from './subscription-hub.js';
import type { TaskSubscription } from './subscription.js';
import { type ProgressMessage, TASK_EVENTS_CHANNEL, TASK_PROGRESS_CHANNEL, type TaskEventsMessage } from './wire.js';

interface SocketData {
  principal: Principal;
  token: string;
  subscriptions: Map<string, TaskSubscription>;
}

/** Also catches tokens that simply expire. */
const REVERIFY_MS = 60_000;

class HandshakeError extends Error {
  constructor(message: string, readonly data: { code: string }) {
    super(message);
  }
}

/**
 * Socket.IO on the api (path /socket.io). Protocol: connect with `auth: {token}` (the REST tokens, roles
 * and scopes); emit `subscribe` with `{operationId}` and/or `{types: ['task.*']}`, optionally `since: <position>`,
 * and get an acknowledgement `{subscriptionId, position, replayed}` once the missed events were sent; every
 * event then arrives under its dotted name with `{type, timestamp, position, data}`; `unsubscribe` with
 * `{subscriptionId}` undoes it. Errors come back in the acknowledgement as `{error: {code, message}}`.
 */
// @Public: the HTTP guard does not apply to socket messages; the handshake middleware authenticates the connection.
@Public()
@WebSocketGateway({ cors: { origin: '*' }, serveClient: false })
export class TaskEventsGateway implements OnGatewayInit, OnGatewayDisconnect, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('socket.io');
  private readonly adapterPool: Pool;
  private server: Server | null = null;
  private reverifyTimer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(DATABASE_URL) databaseUrl: string,
    private readonly verifier: TokenVerifier,
    private readonly hub: SubscriptionHub,
    private readonly feed: TaskLiveFeed,
    private readonly subscriptions: TaskSubscribeService,
    private readonly tokens: TokenWatch,
  ) {
    this.adapterPool = createPool(databaseUrl, { max: 4, applicationName: 'opsledger-socket.io' });
  }

  afterInit(server: Server): void {
    this.server = server;
    server.adapter(createAdapter(this.adapterPool, { errorHandler: (error: Error) => this.logger.warn({ msg: 'socket.io adapter error', err: error }) }));
    server.use((socket, next) => {
      this.authenticate(socket).then(
        () => next(),
        (error: Error) => next(error),
      );
    });
    this.hub.attach(server);
    server.on(TASK_EVENTS_CHANNEL, (message: TaskEventsMessage) => this.feed.receive(message));
    server.on(TASK_PROGRESS_CHANNEL, (message: ProgressMessage) => this.hub.deliverProgress(message));
    this.reverifyTimer = setInterval(() => void this.reverify(), REVERIFY_MS);
  }

  /** After the migrations (gateways are set up before the modules initialise). */
  onApplicationBootstrap(): void {
    this.feed.start();
  }

  private async authenticate(socket: Socket): Promise<void> {
    const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    if (typeof token !== 'string' || !token) throw new HandshakeError('send a token: io(url, { auth: { token } })', { code: 'TOKEN_MISSING' });
    const principal = await this.verifier.verify(token);
    if (!principal) throw new HandshakeError('the token is not valid (unknown, expired, rotated or revoked)', { code: 'TOKEN_INVALID' });
    if (!can(principal, 'tasks:read')) throw new HandshakeError('the token lacks the permission tasks:read', { code: 'INSUFFICIENT_SCOPE' });
    const data: SocketData = { principal, token, subscriptions: new Map() };
    socket.data = data;
    this.tokens.start(() => this.server?.of('/').sockets.values() ?? []);
  }

  private async reverify(): Promise<void> {
    for (const socket of this.server?.of('/').sockets.values() ?? []) await this.tokens.check(socket);
  }

  @SubscribeMessage('subscribe')
  async subscribe(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown) {
    const data = socket.data as SocketData;
    try {
      return await this.subscriptions.subscribe(socket, data.principal, body, data.subscriptions);
    } catch (error) {
      return ackError(error);
    }
  }

  @SubscribeMessage('unsubscribe')
  unsubscribe(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown) {
    const data = socket.data as SocketData;
    const id = (body as { subscriptionId?: unknown } | null)?.subscriptionId;
    const subscription = typeof id === 'string' ? data.subscriptions.get(id) : undefined;
    if (!subscription) return { error: { code: 'SUBSCRIPTION_NOT_FOUND', message: 'no such subscription on this connection' } };
    data.subscriptions.delete(subscription.id);
    this.hub.remove(subscription);
    return { ok: true, subscriptionId: subscription.id };
  }

  handleDisconnect(socket: Socket): void {
    this.hub.removeSocket(socket.id);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.reverifyTimer) clearInterval(this.reverifyTimer);
    await this.adapterPool.end().catch(() => undefined);
  }
}
