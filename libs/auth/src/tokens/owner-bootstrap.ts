import { APP_CONFIG, type EnvConfig } from '@app/config';
import { systemContext } from '@app/core';
import { EVENT_STORE, type EventStore } from '@app/event-store';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tokenStreamId } from './token.decider.js';
import { CreateTokenCommand } from './tokens.commands.js';

export const OWNER_TOKEN_ID = 'owner';
export const OWNER_TOKEN_FILE = 'owner-token';

/**
 * On the first start, creates the owner token: OPSLEDGER_OWNER_TOKEN's value if set, otherwise a fresh
 * secret written to <data dir>/owner-token (mode 0600). Later starts find the stream and do nothing.
 */
@Injectable()
export class OwnerTokenBootstrap {
  private readonly logger = new Logger('bootstrap');

  constructor(
    @Inject(APP_CONFIG) private readonly config: EnvConfig,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly commands: CommandBus,
  ) {}

  async run(): Promise<{ created: boolean; file?: string }> {
    const existing = await this.store.readStream(tokenStreamId(OWNER_TOKEN_ID), { maxCount: 1 });
    if (existing.length) return { created: false };
    const fromEnv = this.config.OPSLEDGER_OWNER_TOKEN;
    try {
      const { secret } = await this.commands.execute(
        new CreateTokenCommand({ name: 'owner (bootstrap)', role: 'owner', scopes: [], expiresInDays: null, tokenId: OWNER_TOKEN_ID, secret: fromEnv }, systemContext('bootstrap')),
      );
      if (fromEnv) {
        this.logger.log('owner token created from OPSLEDGER_OWNER_TOKEN');
        return { created: true };
      }
      const file = path.resolve(this.config.OPSLEDGER_DATA_DIR, OWNER_TOKEN_FILE);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, secret + '\n', { mode: 0o600 });
      this.logger.log({ file }, 'owner token created; its secret is in the file (readable only by this user)');
      return { created: true, file };
    } catch (error) {
      // Another api node created it at the same moment.
      if ((error as { code?: string }).code === 'TOKEN_EXISTS' || (error as { code?: string }).code === 'WRONG_EXPECTED_VERSION') return { created: false };
      throw error;
    }
  }
}
