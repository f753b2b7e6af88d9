import type { ServerWritableStream } from '@grpc/grpc-js';
import streamsPb from '@eventstore/db-client/generated/streams_pb.js';
import type { LogRecord, TransactionLog } from './log.js';
import { type ReadResponse, toReadEvent } from './messages.js';

const { ReadReq, ReadResp } = streamsPb;
type Options = InstanceType<typeof ReadReq.Options>;

/** EventStoreDB's default search window when the client asks for `count` instead of `max`. */
const DEFAULT_WINDOW = 32;

function recordFilter(options: Options): ((record: LogRecord) => boolean) | null {
  const filter = options.getFilter();
  if (!options.hasFilter() || !filter) return null;
  const onType = filter.hasEventType();
  const expression = onType ? filter.getEventType()! : filter.getStreamIdentifier()!;
  const regex = expression.getRegex() ? new RegExp(expression.getRegex()) : null;
  const prefixes = expression.getPrefixList();
  return (record) => {
    const value = onType ? record.type : record.streamId;
    return regex ? regex.test(value) : prefixes.some((p) => value.startsWith(p));
  };
}

/**
 * A catch-up subscription to $all: strictly after the start position, then live. One cursor walks
 * the log, so live events come in log order too. A filtered subscription sends a checkpoint
 * (the position of the last record looked at) every checkpointIntervalMultiplier x window records.
 * Writes wait for 'drain', so a client that stops reading stops the cursor.
 */
export function subscribe(log: TransactionLog, call: ServerWritableStream<unknown, ReadResponse>, options: Options): void {
  const all = options.getAll()!;
  const A = ReadReq.Options.AllOptions.AllOptionCase;
  let cursor = 0;
  if (all.getAllOptionCase() === A.END) cursor = log.records.length;
  else if (all.getAllOptionCase() === A.POSITION) {
    const position = BigInt(all.getPosition()!.getCommitPosition());
    cursor = log.indexAtOrAfter(position);
    if (log.records[cursor]?.position === position) cursor++;
  }
  const matches = recordFilter(options);
  const filter = options.getFilter();
  const interval = filter ? Math.max(1, filter.getCheckpointintervalmultiplier()) * (filter.hasMax() ? filter.getMax() : DEFAULT_WINDOW) : 0;

  let active = true;
  let caughtUp = false;
  let scanned = 0;
  let wake: (() => void) | null = null;
  const stopListening = log.onWrite(() => wake?.());
  const stop = () => {
    active = false;
    stopListening();
    wake?.();
  };
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('error', stop);

  const send = async (response: ReadResponse) => {
    if (call.write(response) || !active) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        call.off('drain', done).off('close', done);
        resolve();
      };
      call.on('drain', done).on('close', done);
    });
  };

  void (async () => {
    while (active) {
      if (cursor < log.records.length) {
        const record = log.records[cursor++];
        if (!matches || matches(record)) await send(toReadEvent(record));
        if (matches && ++scanned % interval === 0) {
          const checkpoint = new ReadResp.Checkpoint().setCommitPosition(record.position.toString()).setPreparePosition(record.position.toString());
          await send(new ReadResp().setCheckpoint(checkpoint));
        }
        continue;
      }
      if (!caughtUp) {
        caughtUp = true;
        await send(new ReadResp().setCaughtUp(new ReadResp.CaughtUp()));
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
  })();
}
