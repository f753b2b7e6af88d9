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
