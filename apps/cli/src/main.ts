import 'reflect-metadata';
import { ConfigError } from '@app/config';
import { loadCliConfig } from './cli-config.js';

// The commands are imported when chosen: loading the whole application takes seconds, and a
// bad configuration value or --help should answer at once.
const help = async () => {
  const { ALL_PROJECTIONS } = await import('@app/read-models');
  return HELP.replace('{projections}', ALL_PROJECTIONS.map((p) => p.name).join(', '));
};

const HELP = `Usage: opsledger <command>

Commands:
  start                 Run OpsLedger: the api and the process manager as supervised child
                        processes, on an embedded PostgreSQL kept in <OPSLEDGER_DATA_DIR>/postgres
                        unless DATABASE_URL is set. Ctrl-C stops everything.
  replay <projection>   Rebuild one read model from the event log, with a progress bar.
  replay --all          Rebuild every read model.
  help, --help, -h      Show this help.

Projections: {projections}

Configuration comes from the environment: PORT, HOST, OPSLEDGER_DATA_DIR, DATABASE_URL,
EVENTSTORE_CONNECTION_STRING, OPSLEDGER_OWNER_TOKEN, OPSLEDGER_EMBEDDED_PG_PORT, LOG_LEVEL, ...
(see README.md). A bad value stops the command with exit code 2.

npm scripts: npm start (build + start), npm run replay -- <projection>|--all
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(await help());
    return command ? 0 : 2;
  }
  if (command !== 'start' && command !== 'replay') {
    process.stderr.write(`unknown command "${command}"\n\n${await help()}`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(await help());
    return 0;
  }
  if (command === 'start' && args.length) {
    process.stderr.write(`start takes no arguments, got: ${args.join(' ')}\n`);
    return 2;
  }
  let cli;
  try {
    cli = loadCliConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 2;
  }
  if (command === 'start') return (await import('./start.command.js')).startCommand(cli);
  const { replayCommand, selectProjections, UnknownProjectionError } = await import('./replay.command.js');
  let projections;
  try {
    if (args.length > 1) throw new UnknownProjectionError(`replay takes one projection name or --all, got: ${args.join(' ')}`);
    projections = selectProjections(args[0]);
  } catch (error) {
    if (!(error instanceof UnknownProjectionError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 2;
  }
  return replayCommand(cli, projections);
}

// A closed terminal or pipe must not crash the launcher while it stops its children.
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Pools and timers of libraries may linger; the work is done.
    setTimeout(() => process.exit(code), 100).unref();
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
