import { Public } from '@app/auth';
import type { Pool } from '@app/database';
import { EVENT_STORE, type EventStore, comparePositions, formatPosition } from '@app/event-store';
import { PG_POOL } from '@app/platform';
import { ProjectionPositions, ProjectionRunner } from '@app/projections';
import { Controller, Get, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly positions: ProjectionPositions,
    private readonly runner: ProjectionRunner,
  ) {}

  /** Liveness without touching the database (load balancers; the bench's bare endpoint). */
  @Get('live')
  @Public()
  live() {
    return { status: 'ok' };
  }

  @Get()
  @Public()
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.database(),
      () => this.eventStore(),
      () => this.projections(),
    ]);
  }

  private async database(): Promise<HealthIndicatorResult> {
    const check = this.indicator.check('database');
    try {
      await this.pool.query('SELECT 1');
      return check.up();
    } catch (error) {
      return check.down({ message: (error as Error).message });
    }
  }

  private async eventStore(): Promise<HealthIndicatorResult> {
    const check = this.indicator.check('eventStore');
    try {
      await this.store.ping();
      return check.up({ kind: this.store.kind });
    } catch (error) {
      return check.down({ kind: this.store.kind, message: (error as Error).message });
    }
  }

  private async projections(): Promise<HealthIndicatorResult> {
    const check = this.indicator.check('projections');
    const head = await this.store.headPosition();
    const detail: Record<string, { position: string; behind: boolean; leaderHere: boolean }> = {};
    for (const name of this.runner.names()) {
      const position = this.positions.get(name);
      detail[name] = {
        position: formatPosition(position),
        behind: head ? comparePositions(position, head) < 0 : false,
        leaderHere: this.runner.isLeader(name),
      };
    }
    return check.up({ head: head ? formatPosition(head) : null, projections: detail });
  }
}
