import 'reflect-metadata';
import { ConfigError, loadConfig } from '@app/config';
import { createApiApp } from './bootstrap.js';

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
    console.error('DATABASE_URL is required for the api process (npm start runs an embedded PostgreSQL and sets it)');
    process.exit(2);
  }
  const app = await createApiApp({ config, databaseUrl: config.DATABASE_URL });
  await app.listen({ port: config.PORT, host: config.HOST });
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  // The launcher reads this line to learn the port when PORT=0.
  console.log(JSON.stringify({ msg: 'api listening', port, url: `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${port}/api` }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
