import { ConfigError, type EnvConfig, loadConfig } from '@app/config';

export interface CliConfig {
  config: EnvConfig;
  /** Fixed port for the embedded PostgreSQL; a free one when unset. */
  embeddedPgPort?: number;
}

/** The shared configuration plus the launcher's own variable; the error names every bad variable. */
export function loadCliConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  const problems: string[] = [];
  let config: EnvConfig | undefined;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.message.split('\n').slice(1));
  }
  const rawPort = env.OPSLEDGER_EMBEDDED_PG_PORT;
  let embeddedPgPort: number | undefined;
  if (rawPort !== undefined && rawPort !== '') {
    embeddedPgPort = Number(rawPort);
    if (!/^\d{1,5}$/.test(rawPort) || embeddedPgPort < 1 || embeddedPgPort > 65535) {
      problems.push(`  OPSLEDGER_EMBEDDED_PG_PORT=${JSON.stringify(rawPort)}: must be a port number from 1 to 65535`);
    }
  }
  if (problems.length || !config) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  return { config, embeddedPgPort };
}
