export const PG_POOL = Symbol('PG_POOL');
export const DATABASE_URL = Symbol('DATABASE_URL');
export const APP_LOGGER = Symbol('APP_LOGGER');
