// Shared pieces of `npm run bench`: the context each section receives, the report it fills, the
// table printer and a helper that runs one contender in a fresh child process.
import { fork } from 'node:child_process';

/** One figure of ours beside the same figure of a peer or raw baseline. ratio = ours / peer. */
export interface BenchRow {
  /** What is measured, e.g. `batch 1: events/s`. */
  metric: string;
  ours: number;
  /** Name of the peer or baseline, e.g. `emmett` or `raw INSERT`. */
  peer: string;
  peerValue: number;
  /** Target for ours/peer: `min` (higher is better) or `max` (lower is better). */
  target?: { min?: number; max?: number };
  /** Printed after the figures, e.g. the unit. */
  unit?: string;
}

export interface Report {
  row(row: BenchRow): void;
  /** A line printed under the section's table (method, settings, extra figures). */
  note(text: string): void;
  /** Progress on stderr while the section runs. */
  log(text: string): void;
}

export interface BenchContext {
  /** Connection string of the server's maintenance database (`postgres`). */
  serverUrl: string;
  /** Creates a fresh, empty database (unique name derived from `name`) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  report: Report;
}

export interface BenchSection {
  /** Selected on the command line by any part of it: `npm run bench -- event-store`. */
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<void>;
}

export function ratioOf(row: BenchRow): number {
  return row.peerValue === 0 ? Number.POSITIVE_INFINITY : row.ours / row.peerValue;
}

export function meetsTarget(row: BenchRow): boolean | null {
  if (!row.target) return null;
  const r = ratioOf(row);
  if (row.target.min !== undefined && r < row.target.min) return false;
  if (row.target.max !== undefined && r > row.target.max) return false;
  return true;
}

export function formatTarget(target: BenchRow['target']): string {
  if (!target) return '';
  const parts: string[] = [];
  if (target.min !== undefined) parts.push(`≥ ${target.min}×`);
  if (target.max !== undefined) parts.push(`≤ ${target.max}×`);
  return parts.join(' ');
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** Plain text table; numbers right-aligned. */
export function formatTable(headers: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (rightAligned[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function formatRows(rows: BenchRow[]): string {
  return formatTable(
    ['metric', 'ours', 'peer', 'peer value', 'ours/peer', 'target', ''],
    rows.map((r) => {
      const ok = meetsTarget(r);
      return [
        r.metric,
        formatNumber(r.ours),
        r.peer,
        formatNumber(r.peerValue),
        `${ratioOf(r).toFixed(2)}×`,
        formatTarget(r.target),
        ok === null ? '' : ok ? 'ok' : 'MISSED',
      ];
    }),
    [false, true, false, true, true, false, false],
  );
}

/**
 * Runs `module` (a compiled .js file next to this one) in a fresh node process with `input`, resolving
 * with the single message it sends back. Each contender gets its own process so that one library's
 * global settings (Emmett's dumbo installs global pg type parsers) or JIT/GC state cannot colour another.
 * BENCH_CPU_PROF=1 writes a .cpuprofile per child into ./bench-profiles.
 */
export function runChild<I, O>(module: URL, input: I, timeoutMs = 120_000): Promise<O> {
  const execArgv = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=bench-profiles'] : [];
  return new Promise<O>((resolve, reject) => {
    const child = fork(module, [JSON.stringify(input)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    let result: { ok: true; value: O } | { ok: false; error: string } | null = null;
    child.on('message', (m) => {
      result = m as typeof result;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (result?.ok) resolve(result.value);
      else if (result) reject(new Error(result.error));
      else reject(new Error(`bench child ${module.pathname} exited with ${signal ?? code} before answering (limit ${timeoutMs} ms)`));
    });
  });
}

/** Child side of runChild: runs fn on the parsed input and sends its result to the parent. */
export function childMain<I, O>(fn: (input: I) => Promise<O>): void {
  const input = JSON.parse(process.argv[2] ?? '{}') as I;
  fn(input).then(
    (value) => process.send!({ ok: true, value }, () => process.exit(0)),
    (error: Error) => process.send!({ ok: false, error: error.stack ?? String(error) }, () => process.exit(1)),
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
