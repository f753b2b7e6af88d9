import { tokenProjection } from '@app/auth';
import { keyValueProjection } from '@app/key-value';
import type { Projection } from '@app/projections';

/** Every projection of the product: the api runs them, the process manager and the CLI know their tables. */
export const ALL_PROJECTIONS: Projection[] = [tokenProjection, keyValueProjection];
