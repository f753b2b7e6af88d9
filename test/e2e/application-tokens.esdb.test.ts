import { defineApplicationTokensSuite } from './application-tokens.suite.js';

// The api on the EventStoreDB adapter, against the in-process gRPC double.
defineApplicationTokensSuite('esdb');
