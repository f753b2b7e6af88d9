import { startTestApi, type TestApi } from '../support/api.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api.close();
});

test('health, token create, kv roundtrip', async () => {
  const health = await api.call('GET', '/api/health', undefined, { token: null });
  expect(health.status).toBe(200);
  const created = await api.call('POST', '/api/application-tokens', { name: 'ci', role: 'application' });
  expect(created.status).toBe(201);
  const token = created.body.token;
  const put = await api.call('POST', '/api/key-value', { key: 'ci/a', value: { n: 1 } }, { token });
  expect(put.status).toBe(201);
  const got = await api.call('GET', '/api/key-value/ci%2Fa', undefined, { token });
  expect(got.body).toMatchObject({ key: 'ci/a', value: { n: 1 }, version: 1 });
});

test('the process manager expires keys whose TTL passed', async () => {
  const { startTestProcessManager } = await import('../support/process-manager.js');
  const pm = await startTestProcessManager(api.databaseUrl);
  try {
    expect((await api.call('PUT', '/api/key-value', { key: 'ttl/a', value: 1, ttlSeconds: 1 })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await api.call('GET', '/api/key-value/ttl%2Fa')).status).toBe(404);
    let history: any;
    for (let i = 0; i < 50; i++) {
      history = await api.call('GET', '/api/key-value/ttl%2Fa/history');
      if (history.body.items[0].change === 'expired') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(history.body.items.map((i: { change: string }) => i.change)).toEqual(['expired', 'set']);
  } finally {
    await pm.close();
  }
});
