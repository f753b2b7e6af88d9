import type { INestApplicationContext } from '@nestjs/common';
import { startTestApi, type TestApi } from '../support/api.js';
import { expectProblem } from '../support/problem.js';
import { startTestProcessManager } from '../support/process-manager.js';
import { createToken, submit, waitForStatus } from '../support/tasks.js';

let api: TestApi;
let pm: INestApplicationContext;

beforeAll(async () => {
  api = await startTestApi();
  pm = await startTestProcessManager(api.databaseUrl);
  for (const collection of ['releases/2025', 'releases/2026', 'other']) {
    expect((await api.call('POST', '/api/doc-store/collections', { path: collection })).status).toBe(201);
  }
  for (let n = 1; n <= 5; n++) {
    for (const collection of ['releases/2025', 'releases/2026']) {
      expect((await api.call('POST', `/api/doc-store/docs/${collection}/build-${n}`, { value: { build: n, year: collection.slice(-4) } })).status).toBe(201);
    }
  }
  expect((await api.call('POST', '/api/doc-store/docs/other/x', { value: { build: 99 } })).status).toBe(201);
});
afterAll(async () => {
  await pm?.close();
  await api?.close();
});

const paths = (stages: { output: { items: { path: string }[] } }[]) => stages.flatMap((s) => s.output.items.map((i) => i.path));

test('doc-store.export writes the selected documents as staged pages, as a batch task', async () => {
  const task = await submit(api, { type: 'doc-store.export', data: { query: { paths: ['releases/**'], filter: { build: { $gte: 2 } }, sort: [{ field: '$path' }] }, pageSize: 3 } });
  const final = await waitForStatus(api, task.operationId);
  expect(final).toMatchObject({ status: 'completed', priority: 'batch' });
  const result = (await api.call('GET', `/api/tasks/${task.operationId}/result`)).body;
  expect(result.result).toEqual({ documents: 8, pages: 3 });
  expect(result.stages.map((s: { name: string; status: string }) => [s.name, s.status])).toEqual([
    ['page-1', 'completed'],
    ['page-2', 'completed'],
    ['page-3', 'completed'],
  ]);
  expect(result.stages[0].output.total).toBe(8);
  expect(paths(result.stages)).toEqual([2, 3, 4, 5].map((n) => `releases/2025/build-${n}`).concat([2, 3, 4, 5].map((n) => `releases/2026/build-${n}`)));
});

test('the export reads with the submitter’s docs:read scopes', async () => {
  const scoped = await createToken(api, ['tasks:write:doc-store.export', 'tasks:read', 'docs:read:releases/2026/**']);
  const task = await submit(api, { type: 'doc-store.export', data: { query: { paths: ['**'], sort: [{ field: '$path' }] } } }, { token: scoped.token });
  await waitForStatus(api, task.operationId);
  const result = (await api.call('GET', `/api/tasks/${task.operationId}/result`, undefined, { token: scoped.token })).body;
  expect(paths(result.stages)).toEqual([1, 2, 3, 4, 5].map((n) => `releases/2026/build-${n}`));
  // The scopes are set by the api, not by the client.
  const forged = await api.call('POST', '/api/tasks', { type: 'doc-store.export', data: { query: { paths: ['**'] }, allowedPaths: null } }, { token: scoped.token });
  expectProblem(forged, 400, 'INVALID_TASK_DATA');
});

test('without docs:read, or with an invalid query, the export is refused at submit', async () => {
  const noDocs = await createToken(api, ['tasks:write']);
  expectProblem(await api.call('POST', '/api/tasks', { type: 'doc-store.export', data: { query: {} } }, { token: noDocs.token }), 403, 'INSUFFICIENT_SCOPE');
  expectProblem(await api.call('POST', '/api/tasks', { type: 'doc-store.export', data: { query: { paths: ['releases/**'], filter: { build: { $near: 1 } } } } }), 400, 'INVALID_QUERY');
  expectProblem(await api.call('POST', '/api/tasks', { type: 'doc-store.export', data: { query: { paths: ['releases/**'] }, pageSize: 0 } }), 400, 'INVALID_TASK_DATA');
});
