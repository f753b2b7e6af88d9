import 'reflect-metadata';
import { ConfigError, loadConfig } from '@app/config';
import { createProcessManager } from './bootstrap.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  if (!config.DATABASE_URL) {
    console.error('DATABASE_URL is required for the process manager (npm start runs an embedded PostgreSQL and sets it)');
    process.exit(2);
  }
  await createProcessManager({ config, databaseUrl: config.DATABASE_URL });
  console.log(JSON.stringify({ msg: 'process manager running' }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
