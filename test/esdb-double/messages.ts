import { Metadata, type status } from '@grpc/grpc-js';
import sharedPb from '@eventstore/db-client/generated/shared_pb.js';
import streamsPb from '@eventstore/db-client/generated/streams_pb.js';
import type { LogRecord } from './log.js';

const { ReadResp } = streamsPb;
type ReadRespT = InstanceType<typeof ReadResp>;

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

export function toReadEvent(record: LogRecord): ReadRespT {
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

