import { defineSmokeSuite } from './smoke.suite.js';

// The api and the process manager on the EventStoreDB adapter, against the in-process gRPC double.
defineSmokeSuite('esdb');
