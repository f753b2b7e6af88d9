import type { Decider, DomainEvent } from './decider.js';
import { fold } from './decider.js';

/** given([events]).when(command).then([events]) / .thenThrows(ErrorClass, code?) — for decider tests. */
export function deciderSpecification<Command, State, Event extends DomainEvent>(decider: Decider<Command, State, Event>) {
  return {
    given(history: Event[]) {
      return {
        when(command: Command) {
          const run = () => decider.decide(command, fold(decider, history));
          return {
            then(expected: Event[]) {
              expect(run()).toEqual(expected);
            },
            thenThrows(errorClass: new (...args: never[]) => Error, code?: string) {
              let thrown: unknown;
              try {
                run();
              } catch (error) {
                thrown = error;
              }
              expect(thrown).toBeInstanceOf(errorClass);
              if (code) expect((thrown as { code?: string }).code).toBe(code);
            },
          };
        },
      };
    },
  };
}
