import { Module } from '@nestjs/common';
import { WriteEntryHandler } from './kv.commands.js';
import { KeyValueController } from './kv.controller.js';
import { EntryHistoryHandler, GetEntryHandler, ListEntriesHandler } from './kv.queries.js';

@Module({
  controllers: [KeyValueController],
  providers: [WriteEntryHandler, GetEntryHandler, ListEntriesHandler, EntryHistoryHandler],
})
export class KeyValueModule {}
