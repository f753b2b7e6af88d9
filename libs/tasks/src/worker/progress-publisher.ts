/** Fine-grained progress of a running attempt: broadcast to Socket.IO subscribers, never stored. */
export interface TaskProgressUpdate {
  operationId: string;
  taskType: string;
  attempt: number;
  workerId: string;
  percent: number;
  message: string | null;
  at: string;
}

export interface TaskProgressPublisher {
  publish(update: TaskProgressUpdate): void;
}

export const TASK_PROGRESS_PUBLISHER = Symbol('TASK_PROGRESS_PUBLISHER');
