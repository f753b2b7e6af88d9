/** Why a running attempt's signal was aborted; decides what gets recorded. */
export class AttemptAbort extends Error {
  constructor(
    readonly kind: 'timeout' | 'cancel' | 'lease-lost' | 'superseded' | 'shutdown',
    message: string,
    readonly timeoutMs?: number,
  ) {
    super(message);
    this.name = 'AbortError';
  }
}

export const timeoutAbort = (ms: number) => new AttemptAbort('timeout', `the attempt timed out after ${ms} ms`, ms);
export const cancelAbort = () => new AttemptAbort('cancel', 'the task was cancelled');
export const leaseLostAbort = () => new AttemptAbort('lease-lost', 'this worker could not renew its lease; another instance takes over');
export const supersededAbort = () => new AttemptAbort('superseded', 'the attempt was ended elsewhere (its lease expired)');
export const shutdownAbort = () => new AttemptAbort('shutdown', 'the process manager is shutting down');
