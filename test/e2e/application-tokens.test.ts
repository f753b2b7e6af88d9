import { defineApplicationTokensSuite } from './application-tokens.suite.js';

defineApplicationTokensSuite('postgres');
