import { defineKeyValueSuite } from './key-value.suite.js';

// The api and the process manager on the EventStoreDB adapter, against the in-process gRPC double.
defineKeyValueSuite('esdb');
