import { startTestApi, type TestApi } from '../support/api.js';
import { type EventStoreBackend, type RunningBackend, startEventStoreBackend } from '../support/event-store-backend.js';
import { startTestProcessManager } from '../support/process-manager.js';

/** The first end-to-end check of the whole system, on either event store. */
export function defineSmokeSuite(backend: EventStoreBackend): void {
  describe(`smoke (${backend} event store)`, () => {
    let store: RunningBackend;
    let api: TestApi;
    beforeAll(async () => {
      store = await startEventStoreBackend(backend);
      api = await startTestApi(store.env);
      expect(api.store.kind).toBe(backend);
    });
    afterAll(async () => {
      await api?.close();
      await store?.stop();
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
      const pm = await startTestProcessManager(api.databaseUrl, store.env);
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
  });
}
