import { defineKeyValueSuite } from './key-value.suite.js';

defineKeyValueSuite('postgres');
