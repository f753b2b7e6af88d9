import type { EnvConfig } from '@app/config';
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const ENCRYPTION_KEY_FILE = 'encryption-key';

/** 32 bytes from base64, base64url or hex text. */
export function parseEncryptionKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64');
  if (key.length !== 32) throw new Error('an encryption key must be 32 bytes as base64 (44 characters) or hex (64 characters)');
  return key;
}

export interface LoadedKey {
  key: Buffer;
  source: 'env' | 'file' | 'generated';
  file?: string;
}

/**
 * OPSLEDGER_ENCRYPTION_KEY if set; otherwise <data dir>/encryption-key, created (mode 0600) on the first
 * start. The api and the process manager start at the same time, so the file appears atomically (link of
 * a complete temp file): whichever process loses the race reads the winner's key.
 */
export function loadEncryptionKey(config: Pick<EnvConfig, 'OPSLEDGER_ENCRYPTION_KEY' | 'OPSLEDGER_DATA_DIR'>): LoadedKey {
  if (config.OPSLEDGER_ENCRYPTION_KEY) return { key: parseEncryptionKey(config.OPSLEDGER_ENCRYPTION_KEY), source: 'env' };
  const dir = path.resolve(config.OPSLEDGER_DATA_DIR);
  const file = path.join(dir, ENCRYPTION_KEY_FILE);
  try {
    return { key: parseEncryptionKey(readFileSync(file, 'utf8')), source: 'file', file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the encryption key in ${file}: ${(error as Error).message}`);
  }
  mkdirSync(dir, { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  try {
    linkSync(temp, file);
    return { key: parseEncryptionKey(readFileSync(file, 'utf8')), source: 'generated', file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { key: parseEncryptionKey(readFileSync(file, 'utf8')), source: 'file', file };
  } finally {
    unlinkSync(temp);
  }
}
