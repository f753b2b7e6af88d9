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
  /**
   * ours/peer when it is not simply ours ÷ peerValue, e.g. the median of ratios of runs made back to
   * back (robust against load that drifts on the machine during the section).
   */
  ratio?: number;
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
  if (row.ratio !== undefined) return row.ratio;
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

export interface ChildSession<Req, Res> {
  request(req: Req, timeoutMs?: number): Promise<Res>;
  close(): Promise<void>;
}

/**
 * Like runChild, but the child stays up and answers requests: contenders can be set up once and then
 * measured in short slices taken in turn (A, B, C, A, B, C …), so that load drifting on the machine
 * hits all of them alike. The child side is childServe.
 */
export function startChildSession<I, Req, Res>(module: URL, input: I, setupTimeoutMs = 120_000): Promise<ChildSession<Req, Res>> {
  const execArgv = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=bench-profiles'] : [];
  const child = fork(module, [JSON.stringify(input), 'serve'], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  type Reply = { id: number; ok: true; value: Res } | { id: number; ok: false; error: string };
  const pending = new Map<number, { resolve(v: Res): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  let nextId = 0;
  let exited = false;
  return new Promise((resolveSession, rejectSession) => {
    const setupTimer = setTimeout(() => child.kill('SIGKILL'), setupTimeoutMs);
    child.on('message', (m) => {
      const msg = m as Reply;
      if (msg.id === -1) {
        clearTimeout(setupTimer);
        if (!msg.ok) return rejectSession(new Error(msg.error));
        return resolveSession({
          request: (req, timeoutMs = 120_000) =>
            new Promise<Res>((resolve, reject) => {
              if (exited) return reject(new Error(`bench child ${module.pathname} has exited`));
              const id = nextId++;
              const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
              pending.set(id, { resolve, reject, timer });
              child.send({ id, req });
            }),
          close: () =>
            new Promise<void>((resolve) => {
              if (exited) return resolve();
              const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
              child.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              child.send({ close: true });
            }),
        });
      }
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new Error(msg.error));
    });
    child.on('exit', (code, signal) => {
      exited = true;
      clearTimeout(setupTimer);
      const error = new Error(`bench child ${module.pathname} exited with ${signal ?? code}`);
      rejectSession(error);
      for (const p of pending.values()) {
        clearTimeout(p.timer);
        p.reject(error);
      }
      pending.clear();
    });
  });
}

/** Child side of startChildSession: sets up from the input, then answers requests until told to close. */
export function childServe<I, Req, Res>(setup: (input: I) => Promise<{ handle(req: Req): Promise<Res>; close(): Promise<void> }>): void {
  const input = JSON.parse(process.argv[2] ?? '{}') as I;
  const fail = (id: number, error: unknown) => process.send!({ id, ok: false, error: (error as Error).stack ?? String(error) });
  setup(input).then(
    (session) => {
      process.on('message', (m) => {
        const msg = m as { id: number; req: Req } | { close: true };
        if ('close' in msg) {
          session.close().then(
            () => process.exit(0),
            () => process.exit(1),
          );
          return;
        }
        session.handle(msg.req).then(
          (value) => process.send!({ id: msg.id, ok: true, value }),
          (error) => fail(msg.id, error),
        );
      });
      process.send!({ id: -1, ok: true, value: null });
    },
    (error) => process.send!({ id: -1, ok: false, error: (error as Error).stack ?? String(error) }, () => process.exit(1)),
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
