import type { AllSubscription, EventStore } from '../types.js';
import { describeAppend } from './append.contract.js';
import { describeConcurrency } from './concurrency.contract.js';
import type { ContractContext, EventStoreFactory } from './helpers.js';
import { describeReads } from './read.contract.js';
import { describeSubscriptions } from './subscribe.contract.js';

export type { EventStoreFactory } from './helpers.js';

/**
 * The behaviour every EventStore adapter must have (EventStoreDB semantics, BRIEF §2), written
 * against the port only. Each test gets a store from the factory and gives it back through cleanup.
 */
export function describeEventStoreContract(name: string, factory: EventStoreFactory): void {
  describe(`EventStore contract: ${name}`, () => {
    let current: { store: EventStore; cleanup(): Promise<void> } | null = null;
    const subscriptions: AllSubscription[] = [];
    const unexpected: Error[] = [];

    const ctx: ContractContext = {
      get store() {
        if (!current) throw new Error('no store: the factory has not run for this test');
        return current.store;
      },
      subscribe(options) {
        const onError = options.onError ?? ((error: Error) => unexpected.push(error));
        const subscription = ctx.store.subscribeToAll({ ...options, onError });
        subscriptions.push(subscription);
        return subscription;
      },
    };

    beforeEach(async () => {
      current = await factory();
    });

    afterEach(async () => {
      await Promise.all(subscriptions.splice(0).map((s) => s.close()));
      await current?.cleanup();
      current = null;
      const errors = unexpected.splice(0);
      if (errors.length) throw new Error(`a subscription failed: ${errors.map((e) => e.stack ?? e.message).join('\n')}`);
    });

    describeAppend(ctx);
    describeReads(ctx);
    describeSubscriptions(ctx);
    describeConcurrency(ctx);
  });
}
