import { io, type Socket } from 'socket.io-client';
import type { TestApi } from './api.js';
import { eventually } from './problem.js';

export interface SocketEvent {
  name: string;
  type: string;
  timestamp: string;
  position: string | null;
  data: { operationId: string; taskType: string; [key: string]: unknown };
}

/** A connected Socket.IO client that records every event it receives. */
export interface TaskSocket {
  socket: Socket;
  events: SocketEvent[];
  subscribe(body: unknown): Promise<any>;
  unsubscribe(subscriptionId: string): Promise<any>;
  close(): void;
}

export function connectSocket(url: string, token: string | undefined): Promise<TaskSocket> {
  const socket = io(url, { auth: token === undefined ? {} : { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  const events: SocketEvent[] = [];
  socket.onAny((name: string, payload: Omit<SocketEvent, 'name'>) => events.push({ name, ...payload }));
  return new Promise((resolve, reject) => {
    socket.once('connect', () =>
      resolve({
        socket,
        events,
        subscribe: (body) => socket.timeout(20_000).emitWithAck('subscribe', body),
        unsubscribe: (subscriptionId) => socket.timeout(20_000).emitWithAck('unsubscribe', { subscriptionId }),
        close: () => socket.close(),
      }),
    );
    socket.once('connect_error', (error: Error & { data?: unknown }) => {
      socket.close();
      reject(error);
    });
  });
}

export const TERMINAL = ['completed', 'failed', 'cancelled'];

/** Polls GET /status until the task is in one of the statuses. */
export function waitForStatus(api: TestApi, operationId: string, statuses: string[] = TERMINAL, timeoutMs = 30_000) {
  return eventually(
    async () => {
      const res = await api.call('GET', `/api/tasks/${operationId}/status`);
      return statuses.includes(res.body?.status) ? res.body : undefined;
    },
    timeoutMs,
    `task ${operationId} to be ${statuses.join(' or ')}`,
  );
}

export async function submit(api: TestApi, body: Record<string, unknown>, options: { token?: string; query?: string } = {}) {
  const res = await api.call('POST', `/api/tasks${options.query ?? ''}`, body, { token: options.token });
  if (res.status !== 202 && res.status !== 200) throw new Error(`submit failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { operationId: string; type: string; status: string; [key: string]: unknown };
}

export async function createToken(api: TestApi, scopes: string[], role = 'application'): Promise<{ id: string; token: string }> {
  const res = await api.call('POST', '/api/application-tokens', { name: `t-${scopes.join('-').slice(0, 40)}`, role, scopes });
  if (res.status !== 201) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, token: res.body.token };
}

/** Runs fn with process.env extended (the in-process process manager reads its task settings from there). */
export async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
