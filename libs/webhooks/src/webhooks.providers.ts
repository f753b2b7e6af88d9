import { APP_CONFIG, type EnvConfig } from '@app/config';
import { Logger, type Provider } from '@nestjs/common';
import { WebhookAllowlist } from './security/address-guard.js';
import { loadEncryptionKey } from './security/encryption-key.js';
import { SecretBox } from './security/secret-box.js';

export const SECRET_BOX = Symbol('SECRET_BOX');
export const WEBHOOK_ALLOWLIST = Symbol('WEBHOOK_ALLOWLIST');

/** Shared by the api (seals secrets) and the process manager (opens them to sign). */
export const WEBHOOK_SECURITY_PROVIDERS: Provider[] = [
  {
    provide: SECRET_BOX,
    inject: [APP_CONFIG],
    useFactory: (config: EnvConfig) => {
      const loaded = loadEncryptionKey(config);
      if (loaded.source === 'generated') {
        new Logger('webhooks').warn({ file: loaded.file, msg: 'generated an encryption key for secrets at rest; back it up (or set OPSLEDGER_ENCRYPTION_KEY): sealed secrets cannot be read without it' });
      }
      return new SecretBox(loaded.key);
    },
  },
  { provide: WEBHOOK_ALLOWLIST, inject: [APP_CONFIG], useFactory: (config: EnvConfig) => new WebhookAllowlist(config.OPSLEDGER_WEBHOOK_ALLOWLIST) },
];
