import { CronExpressionParser } from 'cron-parser';
import type { Recurrence } from './task.events.js';

/** Throws with a readable message when the expression or time zone is invalid. */
export function checkCron(cron: string, timezone: string): void {
  new Intl.DateTimeFormat('en-US', { timeZone: timezone }); // RangeError for an unknown zone
  // next() also rejects expressions that can never fire (e.g. 30 February).
  CronExpressionParser.parse(cron, { tz: timezone, strict: false }).next();
}

/**
 * The first occurrence strictly after `after`, or null when the recurrence has ended (past `until` or
 * `maxOccurrences` reached). Pure: cron-parser only computes dates.
 */
export function nextOccurrence(recurrence: Recurrence, after: Date, occurrencesSoFar: number): Date | null {
  if (recurrence.maxOccurrences !== null && occurrencesSoFar >= recurrence.maxOccurrences) return null;
  const expression = CronExpressionParser.parse(recurrence.cron, { currentDate: after, tz: recurrence.timezone, strict: false });
  if (!expression.hasNext()) return null;
  const next = expression.next().toDate();
  if (recurrence.until !== null && next.getTime() > Date.parse(recurrence.until)) return null;
  return next;
}
