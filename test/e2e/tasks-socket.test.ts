import type { INestApplicationContext } from '@nestjs/common';
import { startTestApi, type TestApi } from '../support/api.js';
import { eventually, sleep } from '../support/problem.js';
import { startTestProcessManager } from '../support/process-manager.js';
import { connectSocket, createToken, type SocketEvent, submit, type TaskSocket, waitForStatus } from '../support/tasks.js';

let api: TestApi;
let pm: INestApplicationContext;
const sockets: TaskSocket[] = [];

beforeAll(async () => {
  api = await startTestApi();
  pm = await startTestProcessManager(api.databaseUrl);
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await pm?.close();
  await api?.close();
});

async function open(token: string = api.ownerToken): Promise<TaskSocket> {
  const socket = await connectSocket(api.url, token);
  sockets.push(socket);
  return socket;
}

const stored = (events: SocketEvent[], id: string) => events.filter((e) => e.position !== null && e.data.operationId === id);
const history = async (id: string) => (await api.call('GET', `/api/tasks/${id}/events`)).body.items.map((e: { type: string; position: string }) => ({ type: e.type, position: e.position }));
const byPosition = (a: { position: string }, b: { position: string }) => {
  const [ac, ap] = a.position.split('-').map(BigInt);
  const [bc, bp] = b.position.split('-').map(BigInt);
  return ac !== bc ? (ac < bc ? -1 : 1) : ap < bp ? -1 : ap > bp ? 1 : 0;
};
const FINAL: Record<string, string> = { 'task.completed': 'completed', 'task.failed': 'failed', 'task.cancelled': 'cancelled' };

describe('handshake', () => {
  test.each([
    ['no token', undefined, 'TOKEN_MISSING'],
    ['an unknown token', 'opl_nope-0123456789abcdef0123', 'TOKEN_INVALID'],
  ])('%s is rejected', async (_what, token, code) => {
    await expect(connectSocket(api.url, token)).rejects.toMatchObject({ data: { code } });
  });

  test('a token without tasks:read is rejected', async () => {
    const kv = await createToken(api, ['kv:read']);
    await expect(connectSocket(api.url, kv.token)).rejects.toMatchObject({ data: { code: 'INSUFFICIENT_SCOPE' } });
  });

  test('revoking the token disconnects its sockets', async () => {
    const doomed = await createToken(api, ['tasks:read']);
    const socket = await open(doomed.token);
    await socket.subscribe({ types: ['task.*'] });
    const disconnected = new Promise<string>((resolve) => socket.socket.once('disconnect', resolve));
    expect((await api.call('DELETE', `/api/application-tokens/${doomed.id}`)).status).toBe(204);
    expect(await Promise.race([disconnected, sleep(10_000).then(() => 'still connected')])).toBe('io server disconnect');
  });

  test('a revoked token cannot connect', async () => {
    const revoked = await createToken(api, ['tasks:read']);
    expect((await api.call('DELETE', `/api/application-tokens/${revoked.id}`)).status).toBe(204);
    await expect(connectSocket(api.url, revoked.token)).rejects.toMatchObject({ data: { code: 'TOKEN_INVALID' } });
  });
});

describe('subscribe', () => {
  test.each([
    ['not an object', 'task.*', 'INVALID_SUBSCRIPTION'],
    ['neither operationId nor types', {}, 'INVALID_SUBSCRIPTION'],
    ['empty types', { types: [] }, 'INVALID_SUBSCRIPTION'],
    ['events this socket does not carry', { types: ['key-value.*'] }, 'UNKNOWN_EVENT_TYPE'],
    ['a malformed operation id', { operationId: 'abc' }, 'INVALID_SUBSCRIPTION'],
    ['an unknown task', { operationId: '01m8ymkryrmejjckmc7pnffqax' }, 'TASK_NOT_FOUND'],
    ['a malformed since', { types: ['task.*'], since: 'yesterday' }, 'INVALID_POSITION'],
    ['unknown fields', { types: ['task.*'], room: 'x' }, 'INVALID_SUBSCRIPTION'],
  ])('%s → error in the acknowledgement', async (_what, body, code) => {
    const socket = await open();
    expect(await socket.subscribe(body)).toEqual({ error: { code, message: expect.any(String) } });
    expect((await socket.unsubscribe('nope')).error.code).toBe('SUBSCRIPTION_NOT_FOUND');
  });
});

test('Socket.IO clients and REST polling give the same answers; every stored event arrives once, in order', async () => {
  const socket = await open();
  const ack = await socket.subscribe({ types: ['task.*'] });
  expect(ack).toEqual({ subscriptionId: expect.any(String), position: expect.stringMatching(/^\d+-\d+$/), replayed: 0 });
  const ids = [
    (await submit(api, { type: 'system.echo', data: { value: 1 } })).operationId,
    (await submit(api, { type: 'system.fail', retry: { maxAttempts: 2, backoff: { initialDelayMs: 50 } } })).operationId,
    (await submit(api, { type: 'system.sleep', data: { durationMs: 600, stages: ['fetch', 'deploy'], steps: 4 } })).operationId,
    (await submit(api, { type: 'system.sleep', data: { durationMs: 30_000 } })).operationId,
  ];
  await waitForStatus(api, ids[3], ['active']);
  await api.call('DELETE', `/api/tasks/${ids[3]}`);
  const finals = await Promise.all(ids.map((id) => waitForStatus(api, id)));
  expect(finals.map((f) => f.status)).toEqual(['completed', 'failed', 'completed', 'cancelled']);
  for (const [i, id] of ids.entries()) {
    const expected = await history(id);
    const received = await eventually(async () => {
      const got = stored(socket.events, id).map((e) => ({ type: e.type, position: e.position }));
      return got.length >= expected.length ? got : undefined;
    }, 10_000);
    expect(received).toEqual(expected);
    expect(FINAL[received[received.length - 1].type]).toBe(finals[i].status);
  }
  for (const e of socket.events) expect(e.name).toBe(e.type);
  // Fine-grained progress of the sleeping task came live, without a position (never stored).
  const live = socket.events.filter((e) => e.position === null && e.data.operationId === ids[2]);
  expect(live.length).toBeGreaterThan(0);
  expect(live[0]).toMatchObject({ type: 'task.progressed', data: { taskType: 'system.sleep', attempt: 1, percent: expect.any(Number), stored: false } });
});

test('a socket never receives events of task types its token has no scope for', async () => {
  const echoOnly = await createToken(api, ['tasks:read:system.echo']);
  const scoped = await open(echoOnly.token);
  const owner = await open();
  expect((await scoped.subscribe({ types: ['task.*'] })).subscriptionId).toBeDefined();
  await owner.subscribe({ types: ['task.*'] });
  const sleeping = await submit(api, { type: 'system.sleep', data: { durationMs: 300, steps: 3 } });
  expect((await scoped.subscribe({ operationId: sleeping.operationId })).error.code).toBe('INSUFFICIENT_SCOPE');
  const echo = await submit(api, { type: 'system.echo' });
  await waitForStatus(api, sleeping.operationId);
  await waitForStatus(api, echo.operationId);
  await eventually(async () => (stored(owner.events, sleeping.operationId).some((e) => e.type === 'task.completed') && stored(scoped.events, echo.operationId).some((e) => e.type === 'task.completed') ? true : undefined), 10_000);
  expect(owner.events.some((e) => e.data.taskType === 'system.sleep')).toBe(true);
  expect(scoped.events.length).toBeGreaterThan(0);
  expect(scoped.events.filter((e) => e.data.taskType !== 'system.echo')).toEqual([]);
  // History is filtered the same way.
  const replay = await open(echoOnly.token);
  const ack = await replay.subscribe({ types: ['task.*'], since: '0-0' });
  expect(ack.replayed).toBeGreaterThan(0);
  expect(replay.events.filter((e) => e.data.taskType !== 'system.echo')).toEqual([]);
});

test('a subscription to one task gets only its events, and those of its occurrences when it recurs', async () => {
  const socket = await open();
  const one = await submit(api, { type: 'system.echo', scheduledFor: new Date(Date.now() + 800).toISOString() });
  const recurring = await submit(api, { type: 'system.echo', recurrence: { cron: '* * * * * *', maxOccurrences: 2 } });
  // From the submission on (on a slow machine the task may have run before the subscription is made).
  const since = async (id: string) => (await api.call('GET', `/api/tasks/${id}/events`)).body.items[0].position;
  expect((await socket.subscribe({ operationId: one.operationId, types: ['task.started', 'task.completed'], since: await since(one.operationId) })).error).toBeUndefined();
  expect((await socket.subscribe({ operationId: recurring.operationId, since: await since(recurring.operationId) })).error).toBeUndefined();
  await waitForStatus(api, one.operationId);
  await waitForStatus(api, recurring.operationId, ['completed'], 15_000);
  await waitForStatus(api, `${recurring.operationId}.2`);
  await eventually(async () => (socket.events.some((e) => e.data.operationId === `${recurring.operationId}.2` && e.type === 'task.completed') ? true : undefined), 10_000);
  expect(stored(socket.events, one.operationId).map((e) => e.type)).toEqual(['task.started', 'task.completed']);
  const ids = new Set(socket.events.map((e) => e.data.operationId));
  expect([...ids].sort()).toEqual([one.operationId, recurring.operationId, `${recurring.operationId}.1`, `${recurring.operationId}.2`].sort());
});

test('a client that reconnects with the last position it saw gets exactly what it missed, then live events', async () => {
  const first = await open();
  await first.subscribe({ types: ['task.*'] });
  const before = await submit(api, { type: 'system.echo' }, { query: '?wait=20' });
  await eventually(async () => (stored(first.events, before.operationId).some((e) => e.type === 'task.completed') ? true : undefined), 10_000);
  const lastSeen = first.events.filter((e) => e.position !== null).at(-1)!.position!;
  first.close();

  const missed: string[] = [];
  for (let i = 0; i < 3; i++) missed.push((await submit(api, { type: 'system.echo', data: { value: i } }, { query: '?wait=20' })).operationId);
  const expected = (await Promise.all(missed.map(history))).flat().sort(byPosition);

  const again = await open();
  const ack = await again.subscribe({ types: ['task.*'], since: lastSeen });
  const replayed = again.events.filter((e) => e.position !== null).map((e) => ({ type: e.type, position: e.position }));
  expect(ack.replayed).toBe(replayed.length);
  // Everything after lastSeen, in order, nothing twice (other tests' events interleave, so compare ours).
  const positions = replayed.map((e) => e.position);
  expect(new Set(positions).size).toBe(positions.length);
  expect(replayed.filter((e) => expected.some((x: { position: string }) => x.position === e.position))).toEqual(expected);
  expect(replayed.every((e) => e.position !== lastSeen)).toBe(true);
  expect(ack.position).toBe(positions.at(-1));

  const after = await submit(api, { type: 'system.echo' }, { query: '?wait=20' });
  const live = await eventually(async () => {
    const got = stored(again.events, after.operationId);
    return got.some((e) => e.type === 'task.completed') ? got : undefined;
  }, 10_000);
  expect(live.map((e) => ({ type: e.type, position: e.position }))).toEqual(await history(after.operationId));
});

test('a socket on another api node gets the same events (the process manager broadcasts to every node)', async () => {
  const other = await startTestApi({}, { databaseUrl: api.databaseUrl });
  try {
    const socket = await connectSocket(other.url, api.ownerToken);
    sockets.push(socket);
    await socket.subscribe({ types: ['task.*'] });
    const task = await submit(api, { type: 'system.echo' }, { query: '?wait=20' });
    const expected = await history(task.operationId);
    const got = await eventually(async () => {
      const events = stored(socket.events, task.operationId);
      return events.length >= expected.length ? events : undefined;
    }, 10_000);
    expect(got.map((e) => ({ type: e.type, position: e.position }))).toEqual(expected);
    socket.close();
  } finally {
    await other.close();
  }
});

test('unsubscribe stops the events', async () => {
  const socket = await open();
  const { subscriptionId } = await socket.subscribe({ types: ['task.completed'] });
  expect(await socket.unsubscribe(subscriptionId)).toEqual({ ok: true, subscriptionId });
  const task = await submit(api, { type: 'system.echo' }, { query: '?wait=20' });
  await sleep(800);
  expect(socket.events.filter((e) => e.data.operationId === task.operationId)).toEqual([]);
});

test('events written while no broadcaster ran reach live subscribers without a gap once one runs again', async () => {
  const socket = await open();
  await socket.subscribe({ types: ['task.*'] });
  await pm.close();
  const task = await submit(api, { type: 'system.echo', data: { value: 'while away' } });
  pm = await startTestProcessManager(api.databaseUrl);
  await waitForStatus(api, task.operationId);
  const expected = await history(task.operationId);
  const got = await eventually(async () => {
    const events = stored(socket.events, task.operationId);
    return events.length >= expected.length ? events : undefined;
  }, 15_000);
  expect(got.map((e) => ({ type: e.type, position: e.position }))).toEqual(expected);
  expect(expected[0].type).toBe('task.submitted');
});
