/**
 * An in-process stand-in for a single EventStoreDB node, speaking the gRPC protocol of
 * @eventstore/db-client 6.2.1 with the service definitions shipped in that package. It covers
 * exactly the RPCs the client makes for the event store adapter:
 *
 * - ServerFeatures.GetSupportedMethods: asked before the first append; the answer leaves out
 *   Streams.BatchAppend, so the client appends with Streams.Append.
 * - Streams.Append (client streaming): expected revision (any / no_stream / stream_exists / exact),
 *   idempotency by event id within the stream, wrong-expected-version details, deleted streams.
 * - Streams.Read: stream reads (forwards / backwards, from a revision, count, stream-not-found),
 *   $all reads (from start / end / a position, both directions) and subscriptions to $all
 *   (confirmation, exclusive start position, event-type and stream-name filters with prefixes or
 *   a regex, checkpoints, caught-up; string uuids only).
 *
 * A single-node connection string (`esdb://127.0.0.1:PORT?tls=false`) makes the client connect
 * directly, so no gossip is needed. The data lives in memory and survives stop() / restart().
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import serverFeaturesGrpc from '@eventstore/db-client/generated/serverfeatures_grpc_pb.js';
import serverFeaturesPb from '@eventstore/db-client/generated/serverfeatures_pb.js';
import { randomUUID } from 'node:crypto';
import { TransactionLog } from './log.js';
import { streamsServiceDefinition } from './messages.js';
import { streamsService } from './streams-service.js';

const { SupportedMethod, SupportedMethods } = serverFeaturesPb;

function supportedMethods() {
  const method = (name: string) => new SupportedMethod().setServiceName('event_store.client.streams.streams').setMethodName(name);
  return new SupportedMethods().setEventStoreServerVersion('24.10.0').setMethodsList([method('read'), method('append')]);
}

export class EsdbDouble {
  readonly log = new TransactionLog();
  private server: Server | null = null;
  private port = 0;

  private constructor() {
    // A real node's $all starts with system events; readers of the port must skip them.
    const empty = new Uint8Array();
    this.log.append('$users', { kind: 'any' }, [{ id: randomUUID(), type: '$UserCreated', contentType: 'application/json', data: empty, customMetadata: empty }]);
    this.log.append('$$$users', { kind: 'any' }, [{ id: randomUUID(), type: '$metadata', contentType: 'application/json', data: empty, customMetadata: empty }]);
  }

  static async start(): Promise<EsdbDouble> {
    const double = new EsdbDouble();
    await double.listen();
    return double;
  }

  get connectionString(): string {
    return `esdb://127.0.0.1:${this.port}?tls=false`;
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** Drops every connection and call at once, as a crashed or partitioned node would. */
  async stop(): Promise<void> {
    this.server?.forceShutdown();
    this.server = null;
  }

  /** Listens again on the same port with the same data. */
  async restart(): Promise<void> {
    if (this.server) throw new Error('the double is running');
    await this.listen();
  }

  private async listen(): Promise<void> {
    const server = new Server();
    server.addService(streamsServiceDefinition, streamsService(this.log));
    server.addService(serverFeaturesGrpc.ServerFeaturesService, {
      getSupportedMethods: (_: unknown, callback: (error: null, response: InstanceType<typeof SupportedMethods>) => void) => callback(null, supportedMethods()),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${this.port}`, ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
    );
    this.server = server;
  }
}
