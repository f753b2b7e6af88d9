import { ValidationError } from '@app/core';
import type { JsonValue } from '@app/event-store';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError as ClassValidationError } from 'class-validator';
import { TASK_TYPE_METADATA, type TaskHandler, type TaskTypeDefinition } from './task-type.js';

export interface RegisteredTaskType {
  definition: TaskTypeDefinition;
  handler: TaskHandler<unknown>;
}

const TYPE_NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

function messages(errors: ClassValidationError[], prefix = ''): string[] {
  return errors.flatMap((e) => {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((m) => (m.startsWith(e.property) ? `${prefix ? `${prefix}.` : ''}${m}` : `${path}: ${m}`));
    return [...own, ...messages(e.children ?? [], path)];
  });
}

/** Every @TaskType provider of the application, found at start through Nest's discovery. */
@Injectable()
export class TaskTypeRegistry implements OnModuleInit {
  private readonly types = new Map<string, RegisteredTaskType>();

  constructor(private readonly discovery: DiscoveryService) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const metatype = wrapper.metatype as unknown;
      if (typeof metatype !== 'function' || !wrapper.instance) continue;
      const definition = Reflect.getMetadata(TASK_TYPE_METADATA, metatype) as TaskTypeDefinition | undefined;
      if (definition) this.register(definition, wrapper.instance as TaskHandler<unknown>);
    }
  }

  register(definition: TaskTypeDefinition, handler: TaskHandler<unknown>): void {
    if (!TYPE_NAME.test(definition.type)) throw new Error(`task type ${definition.type}: use dotted lowercase names such as system.echo`);
    const existing = this.types.get(definition.type);
    if (existing && existing.handler !== handler) throw new Error(`task type ${definition.type} is registered twice`);
    this.types.set(definition.type, { definition, handler });
  }

  get(type: string): RegisteredTaskType | undefined {
    return this.types.get(type);
  }

  list(): TaskTypeDefinition[] {
    return [...this.types.values()].map((t) => t.definition).sort((a, b) => a.type.localeCompare(b.type));
  }

  /** 400 for an unknown type or data its schema rejects; returns the type's definition. */
  async check(type: string, data: unknown): Promise<TaskTypeDefinition> {
    const registered = this.types.get(type);
    if (!registered) {
      throw new ValidationError(`unknown task type ${type}; known types: ${[...this.types.keys()].sort().join(', ')}`, { field: 'type' }, 'UNKNOWN_TASK_TYPE');
    }
    const { schema } = registered.definition;
    if (schema) {
      if (data === null || typeof data !== 'object' || Array.isArray(data)) {
        throw new ValidationError(`data for ${type} must be an object`, { field: 'data', errors: ['data must be an object'] }, 'INVALID_TASK_DATA');
      }
      const errors = await validate(plainToInstance(schema, data), { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false });
      if (errors.length) {
        const list = messages(errors).map((m) => `data.${m}`);
        throw new ValidationError(`invalid data for ${type}: ${list.join('; ')}`, { field: 'data', errors: list }, 'INVALID_TASK_DATA');
      }
    }
    registered.definition.check?.(data as JsonValue);
    return registered.definition;
  }
}
