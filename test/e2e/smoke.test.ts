import { defineSmokeSuite } from './smoke.suite.js';

defineSmokeSuite('postgres');
