import { status, type sendUnaryData, type ServerReadableStream, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import streamsPb from '@eventstore/db-client/generated/streams_pb.js';
import { randomUUID } from 'node:crypto';
import sharedPb from '@eventstore/db-client/generated/shared_pb.js';
import { grpcError, type ReadResponse, streamName, toReadEvent } from './messages.js';
import { subscribe } from './subscription.js';
import type { Expected, LogRecord, Proposed, TransactionLog } from './log.js';

const { AppendReq, AppendResp, ReadReq, ReadResp } = streamsPb;
type AppendReqT = InstanceType<typeof AppendReq>;
type ReadReqT = InstanceType<typeof ReadReq>;

const MAX_COUNT = BigInt(Number.MAX_SAFE_INTEGER);

/** The client writes one message per event after an options message; the result comes when it ends the call. */
function append(log: TransactionLog) {
  return (call: ServerReadableStream<AppendReqT, unknown>, callback: sendUnaryData<unknown>) => {
    let options: InstanceType<typeof AppendReq.Options> | undefined;
    const proposed: Proposed[] = [];
    call.on('data', (req: AppendReqT) => {
      if (req.hasOptions()) options = req.getOptions();
      const message = req.getProposedMessage();
      if (!message) return;
      const metadata = message.getMetadataMap();
      proposed.push({
        id: message.getId()?.getString() ?? '',
        type: metadata.get('type') ?? '',
        contentType: metadata.get('content-type') ?? '',
        data: message.getData_asU8(),
        customMetadata: message.getCustomMetadata_asU8(),
      });
    });
    call.on('end', () => {
      if (!options) return callback(grpcError(status.INVALID_ARGUMENT, 'append without options'));
      if (proposed.some((p) => !p.type || !p.contentType || !p.id)) {
        return callback(grpcError(status.INVALID_ARGUMENT, 'required metadata missing', 'missing-required-metadata-property', { 'required-metadata-properties': 'type,content-type' }));
      }
      const stream = streamName(options.getStreamIdentifier());
      const outcome = log.append(stream, expectedOf(options), proposed);
      if (outcome.kind === 'stream_deleted') {
        return callback(grpcError(status.FAILED_PRECONDITION, `Event stream '${stream}' is deleted.`, 'stream-deleted', { 'stream-name': stream }));
      }
      const response = new AppendResp();
      if (outcome.kind === 'success') {
        const position = new AppendResp.Position().setCommitPosition(outcome.position.toString()).setPreparePosition(outcome.position.toString());
        response.setSuccess(new AppendResp.Success().setCurrentRevision(outcome.revision.toString()).setPosition(position));
      } else {
        const wrong = new AppendResp.WrongExpectedVersion();
        if (outcome.current === null) wrong.setCurrentNoStream(new sharedPb.Empty());
        else wrong.setCurrentRevision(outcome.current.toString());
        const E = AppendReq.Options.ExpectedStreamRevisionCase;
        switch (options.getExpectedStreamRevisionCase()) {
          case E.REVISION:
            wrong.setExpectedRevision(options.getRevision());
            break;
          case E.NO_STREAM:
            wrong.setExpectedNoStream(new sharedPb.Empty());
            break;
          case E.STREAM_EXISTS:
            wrong.setExpectedStreamExists(new sharedPb.Empty());
            break;
          default:
            wrong.setExpectedAny(new sharedPb.Empty());
        }
        response.setWrongExpectedVersion(wrong);
      }
      callback(null, response);
    });
  };
}

function expectedOf(options: InstanceType<typeof AppendReq.Options>): Expected {
  const E = AppendReq.Options.ExpectedStreamRevisionCase;
  switch (options.getExpectedStreamRevisionCase()) {
    case E.REVISION:
      return { kind: 'revision', revision: BigInt(options.getRevision()) };
    case E.NO_STREAM:
      return { kind: 'no_stream' };
    case E.STREAM_EXISTS:
      return { kind: 'stream_exists' };
    default:
      return { kind: 'any' };
  }
}

function read(log: TransactionLog) {
  return (call: ServerWritableStream<ReadReqT, ReadResponse>) => {
    const options = call.request.getOptions();
    if (!options) return call.emit('error', grpcError(status.INVALID_ARGUMENT, 'read without options'));
    if (options.getUuidOption()?.hasStructured()) return call.emit('error', grpcError(status.UNIMPLEMENTED, 'the double only sends string uuids'));
    if (options.hasSubscription()) {
      if (!options.hasAll()) return call.emit('error', grpcError(status.UNIMPLEMENTED, 'the double covers subscriptions to $all only'));
      call.write(new ReadResp().setConfirmation(new ReadResp.SubscriptionConfirmation().setSubscriptionId(randomUUID())));
      return subscribe(log, call, options);
    }
    const count = BigInt(options.getCount() || '0');
    const limit = Number(count > MAX_COUNT ? MAX_COUNT : count);
    const backwards = options.getReadDirection() === ReadReq.Options.ReadDirection.BACKWARDS;
    let records: LogRecord[];
    if (options.hasStream()) {
      const streamOptions = options.getStream()!;
      const stream = streamName(streamOptions.getStreamIdentifier());
      if (log.isDeleted(stream)) {
        return call.emit('error', grpcError(status.FAILED_PRECONDITION, `Event stream '${stream}' is deleted.`, 'stream-deleted', { 'stream-name': stream }));
      }
      const events = log.stream(stream);
      if (!events) {
        const notFound = new ReadResp.StreamNotFound().setStreamIdentifier(streamOptions.getStreamIdentifier());
        call.write(new ReadResp().setStreamNotFound(notFound));
        return call.end();
      }
      records = readStream(events, streamOptions, backwards, limit);
    } else {
      records = readAll(log, options.getAll()!, backwards, limit);
    }
    for (const record of records) call.write(toReadEvent(record));
    call.end();
  };
}

function readStream(events: readonly LogRecord[], options: InstanceType<typeof ReadReq.Options.StreamOptions>, backwards: boolean, limit: number): LogRecord[] {
  const R = ReadReq.Options.StreamOptions.RevisionOptionCase;
  const last = events.length - 1;
  const revisionCase = options.getRevisionOptionCase();
  const from = revisionCase === R.REVISION ? Number(options.getRevision()) : revisionCase === R.END ? (backwards ? last : events.length) : 0;
  if (backwards) return events.slice(Math.max(0, Math.min(from, last) - limit + 1), Math.min(from, last) + 1).reverse();
  return events.slice(from, from + limit);
}

/** Forwards from a position includes the record at it; backwards from a position starts before it. */
function readAll(log: TransactionLog, options: InstanceType<typeof ReadReq.Options.AllOptions>, backwards: boolean, limit: number): LogRecord[] {
  const A = ReadReq.Options.AllOptions.AllOptionCase;
  const records = log.records;
  let index: number;
  switch (options.getAllOptionCase()) {
    case A.POSITION:
      index = log.indexAtOrAfter(BigInt(options.getPosition()!.getCommitPosition()));
      break;
    case A.END:
      index = records.length;
      break;
    default:
      index = 0;
  }
  if (backwards) return records.slice(Math.max(0, index - limit), index).reverse();
  return records.slice(index, index + limit);
}

export function streamsService(log: TransactionLog): UntypedServiceImplementation {
  return { read: read(log), append: append(log) };
}
