import { ValidationError } from '@app/core';
import { type ArgumentMetadata, type PipeTransform, ValidationPipe } from '@nestjs/common';

const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** PostgreSQL (jsonb, text) cannot hold U+0000 or unpaired surrogates, so such a body could never be stored. */
function storable(value: unknown): boolean {
  if (typeof value === 'string') return !value.includes('\u0000') && !UNPAIRED_SURROGATE.test(value);
  if (Array.isArray(value)) return value.every(storable);
  if (value !== null && typeof value === 'object') return Object.entries(value).every(([k, v]) => storable(k) && storable(v));
  return true;
}

/**
 * Query strings and path params are text, so they are converted to the DTO's types; a JSON body is
 * validated as sent: {"key": 42} is a 400, not the key "42".
 */
export class RequestValidationPipe implements PipeTransform {
  private readonly body = new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true });
  private readonly text = new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true, transformOptions: { enableImplicitConversion: true } });

  transform(value: unknown, metadata: ArgumentMetadata) {
    if (metadata.type !== 'body') return this.text.transform(value, metadata);
    if (!storable(value)) throw new ValidationError('strings in the body must not contain U+0000 or unpaired surrogates', { field: 'body' }, 'UNSTORABLE_TEXT');
    return this.body.transform(value, metadata);
  }
}
