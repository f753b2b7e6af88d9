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

    test('/metrics: Prometheus text for metrics:read (members, or a scoped token), 401 without a token, 403 for automation', async () => {
      expect((await api.call('GET', '/metrics', undefined, { token: null })).status).toBe(401);
      const automation = (await api.call('POST', '/api/application-tokens', { name: 'bot', role: 'application' })).body.token;
      const denied = await api.call('GET', '/metrics', undefined, { token: automation });
      expect(denied.status).toBe(403);
      expect(denied.body).toMatchObject({ code: 'INSUFFICIENT_SCOPE' });
      expect((await api.call('GET', '/api/metrics')).status).toBe(404);

      const scraper = (await api.call('POST', '/api/application-tokens', { name: 'prometheus', role: 'member', scopes: ['metrics:read'] })).body.token;
      await api.call('GET', '/api/key-value/metrics%2Fmissing', undefined, { token: scraper });
      const scraped = await api.call('GET', '/metrics', undefined, { token: scraper });
      expect(scraped.status).toBe(200);
      expect(scraped.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = scraped.body as string;
      // Routes by their pattern (never the raw key), with the status of each answer.
      expect(text).toMatch(/opsledger_http_request_duration_seconds_count\{method="GET",route="\/api\/key-value\/:key",status="403"\} 1\n/);
      expect(text).toMatch(/opsledger_http_request_duration_seconds_count\{method="GET",route="\/metrics",status="401"\} 1\n/);
      expect(text).not.toContain('metrics%2Fmissing');
      expect(text).toMatch(/opsledger_projection_behind\{projection="key-value"\} [01]\n/);
      expect(text).toMatch(/opsledger_projection_leader\{projection="key-value"\} 1\n/);
      expect(text).toContain('opsledger_api_process_cpu_seconds_total');
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
