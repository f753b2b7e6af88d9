import { assertCan, RequirePermission, resourcePatterns } from '@app/auth';
import { type CommandContext, NotFoundError } from '@app/core';
import { Ctx, CurrentPrincipal, type Principal } from '@app/http';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { isTerminalState } from '../domain/task.decider.js';
import { OPERATION_ID } from '../domain/task-ids.js';
import type { TaskState } from '../domain/task.state.js';
import { TaskTypeRegistry } from '../registry/task-type.registry.js';
import { SubmitTaskCommand } from './submit-task.command.js';
import { CancelTaskCommand, StopRecurrenceCommand } from './task-control.commands.js';
import { TaskOutcomeWaiter } from './task-outcome.waiter.js';
import { resultView, statusView } from './task-views.js';
import { CancelTaskDto, EventsQuery, ListTasksQuery as ListParams, SubmitQuery, SubmitTaskDto, TaskResultView, TaskStatusView } from './tasks.dto.js';
import { GetTaskQuery, ListTasksQuery, TaskEventsQuery } from './tasks.queries.js';

function checkId(id: string): string {
  if (!OPERATION_ID.test(id)) throw new NotFoundError(`task ${id.slice(0, 64)} not found`, 'TASK_NOT_FOUND');
  return id;
}

@ApiTags('tasks')
@ApiBearerAuth()
@Controller('tasks')
export class TasksController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    private readonly waiter: TaskOutcomeWaiter,
    private readonly registry: TaskTypeRegistry,
  ) {}

  /** Loads the task and checks the caller may act on its type (scopes like tasks:read:system.*). */
  private async load(id: string, principal: Principal | undefined, permission: 'tasks:read' | 'tasks:write'): Promise<TaskState> {
    const state = await this.queries.execute(new GetTaskQuery(checkId(id)));
    assertCan(principal, permission, state.taskType);
    return state;
  }

  @Post()
  @RequirePermission('tasks:write')
  @ApiAcceptedResponse({ description: '{operationId, type, status}; with ?wait=N and the task finished in time: 200 with the final status and result' })
  async submit(@Body() body: SubmitTaskDto, @Query() query: SubmitQuery, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext, @Res({ passthrough: true }) reply: FastifyReply) {
    assertCan(principal, 'tasks:write', body.type);
    const { operationId, replayed } = await this.commands.execute(new SubmitTaskCommand(body, principal, ctx));
    void reply.status(202);
    if (!replayed && !query.wait) return { operationId, type: body.type, status: 'pending' };
    if (replayed) void reply.header('idempotent-replayed', 'true');
    if (query.wait) await this.waiter.wait(operationId, query.wait * 1000);
    const state = await this.queries.execute(new GetTaskQuery(operationId));
    if (query.wait && isTerminalState(state)) {
      void reply.status(200);
      return { ...statusView(state), result: resultView(state).result };
    }
    return { operationId, type: state.taskType, status: state.status };
  }

  @Get()
  @RequirePermission('tasks:read')
  @ApiOkResponse({ description: '{ items: TaskStatusView[], nextCursor } — newest first' })
  list(@Query() query: ListParams, @CurrentPrincipal() principal: Principal) {
    const { limit, ...filter } = query;
    return this.queries.execute(new ListTasksQuery({ ...filter, limit: limit ?? 100 }, resourcePatterns(principal, 'tasks:read')));
  }

  @Get('types')
  @RequirePermission('tasks:read')
  @ApiOkResponse({ description: 'The registered task types with their defaults.' })
  types() {
    return {
      items: this.registry.list().map((d) => ({ type: d.type, description: d.description, priority: d.priority ?? 'normal', timeoutMs: d.timeoutMs ?? null, retry: d.retry ?? null, concurrency: d.concurrency ?? null })),
    };
  }

  @Get(':id')
  @RequirePermission('tasks:read')
  @ApiOkResponse({ type: TaskStatusView })
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal) {
    return statusView(await this.load(id, principal, 'tasks:read'));
  }

  @Get(':id/status')
  @RequirePermission('tasks:read')
  @ApiOkResponse({ type: TaskStatusView })
  async status(@Param('id') id: string, @CurrentPrincipal() principal: Principal) {
    return statusView(await this.load(id, principal, 'tasks:read'));
  }

  @Get(':id/result')
  @RequirePermission('tasks:read')
  @ApiOkResponse({ type: TaskResultView })
  async result(@Param('id') id: string, @CurrentPrincipal() principal: Principal) {
    return resultView(await this.load(id, principal, 'tasks:read'));
  }

  @Get(':id/events')
  @RequirePermission('tasks:read')
  @ApiOkResponse({ description: "{ operationId, items: [{type, internalType, revision, position, timestamp, data, actor, correlationId}] } — the task's event history" })
  async events(@Param('id') id: string, @Query() query: EventsQuery, @CurrentPrincipal() principal: Principal) {
    await this.load(id, principal, 'tasks:read');
    return this.queries.execute(new TaskEventsQuery(id, query.limit ?? 1000));
  }

  @Delete(':id')
  @RequirePermission('tasks:write')
  @HttpCode(202)
  @ApiAcceptedResponse({ type: TaskStatusView, description: 'Pending: cancelled now. Running: cancelRequested until the worker has stopped it. 409 TASK_FINISHED if it already ended.' })
  async cancel(@Param('id') id: string, @Body() body: CancelTaskDto | undefined, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext) {
    await this.load(id, principal, 'tasks:write');
    await this.commands.execute(new CancelTaskCommand(id, body?.reason ?? null, ctx));
    return statusView(await this.queries.execute(new GetTaskQuery(id)));
  }

  @Post(':id/stop-recurring')
  @RequirePermission('tasks:write')
  @HttpCode(200)
  @ApiOkResponse({ type: TaskStatusView, description: '409 NOT_RECURRING for a one-off task, TASK_FINISHED if already stopped.' })
  async stopRecurring(@Param('id') id: string, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext) {
    await this.load(id, principal, 'tasks:write');
    await this.commands.execute(new StopRecurrenceCommand(id, ctx));
    return statusView(await this.queries.execute(new GetTaskQuery(id)));
  }
}
