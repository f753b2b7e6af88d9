import type { Priority } from '../domain/task.events.js';

/**
 * Slots of one process-manager instance. Critical may use every slot; normal all but the ones reserved
 * for critical; batch only what is left after the normal reserve too — so critical work never waits
 * behind batch work, and batch only runs on idle capacity. Per-type limits apply on top.
 */
export class Capacity {
  private readonly running: Record<Priority, number> = { critical: 0, normal: 0, batch: 0 };
  private readonly byType = new Map<string, number>();

  constructor(
    readonly total: number,
    private readonly reservedCritical: number,
    private readonly reservedNormal: number,
    private readonly typeLimit: (type: string) => number | undefined,
  ) {}

  get used(): number {
    return this.running.critical + this.running.normal + this.running.batch;
  }

  admits(priority: Priority): boolean {
    const limit = priority === 'critical' ? this.total : priority === 'normal' ? this.total - this.reservedCritical : this.total - this.reservedCritical - this.reservedNormal;
    return this.used < limit;
  }

  typeAdmits(type: string): boolean {
    const limit = this.typeLimit(type);
    return limit === undefined || (this.byType.get(type) ?? 0) < limit;
  }

  acquire(priority: Priority, type: string): void {
    this.running[priority]++;
    this.byType.set(type, (this.byType.get(type) ?? 0) + 1);
  }

  release(priority: Priority, type: string): void {
    this.running[priority]--;
    this.byType.set(type, (this.byType.get(type) ?? 1) - 1);
  }

  snapshot(): Record<Priority, number> {
    return { ...this.running };
  }
}
