import { Metadata, type status } from '@grpc/grpc-js';
import sharedPb from '@eventstore/db-client/generated/shared_pb.js';
import streamsGrpc from '@eventstore/db-client/generated/streams_grpc_pb.js';
import streamsPb from '@eventstore/db-client/generated/streams_pb.js';
import type { LogRecord } from './log.js';

const { ReadResp } = streamsPb;
type ReadRespT = InstanceType<typeof ReadResp>;
/** A Read response, or one already serialized (a recorded event: the same bytes for every reader). */
export type ReadResponse = ReadRespT | Buffer;

/** An error as the server sends it: the client maps the `exception` metadata to its typed errors. */
export function grpcError(code: status, details: string, exception?: string, extra: Record<string, string> = {}) {
  const metadata = new Metadata();
  if (exception) metadata.set('exception', exception);
  for (const [key, value] of Object.entries(extra)) metadata.set(key, value);
  return Object.assign(new Error(details), { code, details, metadata });
}

export function streamName(identifier: InstanceType<typeof sharedPb.StreamIdentifier> | undefined): string {
  return Buffer.from(identifier?.getStreamName_asU8() ?? new Uint8Array()).toString('utf8');
}

function buildReadEvent(record: LogRecord): ReadRespT {
  const event = new ReadResp.ReadEvent.RecordedEvent();
  event.setId(new sharedPb.UUID().setString(record.id));
  event.setStreamIdentifier(new sharedPb.StreamIdentifier().setStreamName(Buffer.from(record.streamId, 'utf8')));
  event.setStreamRevision(record.revision.toString());
  event.setCommitPosition(record.position.toString());
  event.setPreparePosition(record.position.toString());
  event.getMetadataMap().set('type', record.type).set('content-type', record.contentType).set('created', record.created.toString());
  event.setData(record.data);
  event.setCustomMetadata(record.customMetadata);
  const read = new ReadResp.ReadEvent().setEvent(event).setCommitPosition(record.position.toString());
  return new ReadResp().setEvent(read);
}

const serialized = new WeakMap<LogRecord, Buffer>();

/** Records never change, so each is serialized once, however many reads and subscriptions send it. */
export function toReadEvent(record: LogRecord): Buffer {
  let bytes = serialized.get(record);
  if (!bytes) {
    bytes = Buffer.from(buildReadEvent(record).serializeBinary());
    serialized.set(record, bytes);
  }
  return bytes;
}

const { StreamsService } = streamsGrpc;
const serializeReadResp = StreamsService.read.responseSerialize;

/** The client's Streams service definition, its Read answers allowed to be serialized bytes already. */
export const streamsServiceDefinition: typeof StreamsService = {
  ...StreamsService,
  read: { ...StreamsService.read, responseSerialize: (response: ReadResponse) => (Buffer.isBuffer(response) ? response : serializeReadResp(response)) },
};
