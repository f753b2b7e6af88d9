import { startTestApi, type TestApi } from '../support/api.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ OPSLEDGER_RATE_LIMIT_PER_MINUTE: '5' });
});
afterAll(async () => {
  await api.close();
});

test('each token gets its own budget; past it, 429 problem+json with Retry-After', async () => {
  const created = await api.call('POST', '/api/application-tokens', { name: 'limited', role: 'application' });
  expect(created.status).toBe(201);
  const token = created.body.token as string;
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await api.call('GET', '/api/key-value', undefined, { token })).status);
  expect(statuses).toEqual([200, 200, 200, 200, 200]);
  const limited = await api.call('GET', '/api/key-value', undefined, { token });
  expect(limited.status).toBe(429);
  expect(limited.headers.get('content-type')).toContain('application/problem+json');
  expect(limited.body.code).toBe('RATE_LIMITED');
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  // A write refused by the limit changes nothing.
  const write = await api.call('PUT', '/api/key-value', { key: 'limited/x', value: 1 }, { token });
  expect(write.status).toBe(429);
  const other = await api.call('POST', '/api/application-tokens', { name: 'other', role: 'member' });
  expect(other.status).toBe(201);
  expect((await api.call('GET', '/api/key-value/limited%2Fx', undefined, { token: other.body.token })).status).toBe(404);
});
