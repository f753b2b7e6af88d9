import { rmSync } from 'node:fs';

export default async function globalTeardown() {
  const held = globalThis.__OPSLEDGER_TEST_PG__;
  if (!held) return;
  await held.server.stop();
  rmSync(held.dir, { recursive: true, force: true });
}
