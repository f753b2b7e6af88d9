import { ulid } from 'ulid';

/** Operation ids are lowercase ULIDs (time-ordered); an occurrence of a recurring task is `<parent>.<n>`. */
export const OPERATION_ID = /^[0-9a-z]{26}(?:\.[1-9][0-9]{0,8})?$/;

export const newOperationId = (): string => ulid().toLowerCase();
export const taskStreamId = (operationId: string): string => `task-${operationId}`;
export const occurrenceId = (parentId: string, occurrence: number): string => `${parentId}.${occurrence}`;
export const operationIdOfStream = (streamId: string): string => streamId.slice('task-'.length);
/** The recurring task an occurrence belongs to, or null. */
export const parentIdOf = (operationId: string): string | null => (operationId.includes('.') ? operationId.slice(0, operationId.indexOf('.')) : null);
