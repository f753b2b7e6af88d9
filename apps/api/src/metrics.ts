import { comparePositions, type EventStore } from '@app/event-store';
import type { ProjectionPositions, ProjectionRunner } from '@app/projections';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const METRICS = Symbol('METRICS');

/**
 * Prometheus metrics of one api process (prom-client), in a registry of its own so that several apps in one
 * process (tests) do not collide: Node's defaults (CPU, memory, event loop lag, GC), HTTP requests by route
 * pattern (never the raw URL: keys and paths would explode the label set) and the projections' state.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly requests: Histogram<'method' | 'route' | 'status'>;

  constructor(store: EventStore, positions: ProjectionPositions, runner: ProjectionRunner) {
    collectDefaultMetrics({ register: this.registry, prefix: 'opsledger_api_' });
    this.requests = new Histogram({
      name: 'opsledger_http_request_duration_seconds',
      help: 'HTTP requests by method, route pattern and status code',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    new Gauge({
      name: 'opsledger_projection_behind',
      help: '1 while a projection has not reached the head of the event log (as this node knows it)',
      labelNames: ['projection'],
      registers: [this.registry],
      async collect() {
        const head = await store.headPosition().catch(() => null);
        for (const name of runner.names()) this.set({ projection: name }, head && comparePositions(positions.get(name), head) < 0 ? 1 : 0);
      },
    });
    new Gauge({
      name: 'opsledger_projection_leader',
      help: '1 where this node runs the projection',
      labelNames: ['projection'],
      registers: [this.registry],
      collect() {
        for (const name of runner.names()) this.set({ projection: name }, runner.isLeader(name) ? 1 : 0);
      },
    });
  }

  /** Times every request once it is answered; unmatched routes count under `unmatched`. */
  instrument(fastify: FastifyInstance): void {
    fastify.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      this.requests.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });
  }
}
