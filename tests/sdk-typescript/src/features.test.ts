// The official TypeScript SDK's client and worker against `temper server start-dev`:
// activities, timers, signals, queries, updates, child workflows, retries, failures,
// continue-as-new, cancellation, signal-with-start and visibility.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  WorkflowUpdateStage,
  WithStartWorkflowOperation,
} from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import * as activities from './activities';
import { hooks } from './hooks';
import { eventTypes, installRuntime, TemperServer, uniqueId, waitFor, workflowBundle } from './harness';
import {
  accumulatorWorkflow,
  addUpdate,
  approveSignal,
  asyncCompletionWorkflow,
  cancelActivityWorkflow,
  cancellableWorkflow,
  localActivityWorkflow,
  counterWorkflow,
  failingActivityWorkflow,
  failingWorkflow,
  orderWorkflow,
  retryWorkflow,
  signalledWorkflow,
  statusQuery,
} from './workflows';

const TEST_TIMEOUT = 60_000;

describe('TypeScript SDK against temper server start-dev', { timeout: 180_000 }, () => {
  let server: TemperServer;
  let connection: Connection;
  let nativeConnection: NativeConnection;
  let client: Client;
  let worker: Worker;
  let workerRun: Promise<void>;
  const taskQueue = uniqueId('ts-features');

  before(async () => {
    installRuntime();
    const bundle = workflowBundle();
    server = await TemperServer.start();
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection, namespace: 'default' });
    nativeConnection = await NativeConnection.connect({ address: server.address });
    worker = await Worker.create({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      workflowBundle: await bundle,
      activities,
      // Heartbeats (which bring activity cancellations back) are sent at least every 500 ms.
      maxHeartbeatThrottleInterval: '500 milliseconds',
    });
    workerRun = worker.run();
  });

  after(async () => {
    if (worker) {
      worker.shutdown();
      await workerRun;
    }
    await nativeConnection?.close();
    await connection?.close();
    await server?.stop();
  });

  it('runs an activity, a timer, a signal, queries, updates and a child workflow', { timeout: TEST_TIMEOUT }, async () => {
    const workflowId = uniqueId('order');
    const handle = await client.workflow.start(orderWorkflow, { args: ['Temper'], taskQueue, workflowId });

    // The query answers while the workflow runs; it reaches `waiting` after the activity and the timer.
    await waitFor('the workflow to wait for approval', async () => (await handle.query(statusQuery)) === 'waiting');
    // The SDK's built-in stack-trace query goes through the same path.
    assert.match(await handle.query<string>('__stack_trace'), /orderWorkflow/);

    // An update refused by its validator fails without touching the history.
    await assert.rejects(handle.executeUpdate(addUpdate, { args: [-1] }), (err: unknown) => {
      assert.ok(err instanceof WorkflowUpdateFailedError, `unexpected ${String(err)}`);
      assert.match(String((err.cause as Error | undefined)?.message), /cannot add -1/);
      return true;
    });
    // executeUpdate waits for the update's result; startUpdate returns once it is accepted.
    assert.equal(await handle.executeUpdate(addUpdate, { args: [4] }), 4);
    const updateHandle = await handle.startUpdate(addUpdate, {
      args: [6],
      updateId: `${workflowId}-add-6`,
      waitForStage: WorkflowUpdateStage.ACCEPTED,
    });
    assert.equal(await updateHandle.result(), 10);
    // A handle fetched by id gets the same outcome.
    assert.equal(await handle.getUpdateHandle<number>(`${workflowId}-add-6`).result(), 10);
    assert.equal(await handle.query(statusQuery), 'waiting');

    await handle.signal(approveSignal, 'alice');
    const result = await handle.result();
    assert.deepEqual(result, {
      greeting: 'Hello, Temper!',
      approvedBy: 'alice',
      total: 10,
      child: 20,
      childWorkflowId: `${workflowId}-child`,
    });
    // A closed workflow still answers queries.
    assert.equal(await handle.query(statusQuery), 'done');

    const events = await eventTypes(handle);
    for (const expected of [
      'WORKFLOW_EXECUTION_STARTED',
      'ACTIVITY_TASK_SCHEDULED',
      'ACTIVITY_TASK_STARTED',
      'ACTIVITY_TASK_COMPLETED',
      'TIMER_STARTED',
      'TIMER_FIRED',
      'WORKFLOW_EXECUTION_UPDATE_ACCEPTED',
      'WORKFLOW_EXECUTION_UPDATE_COMPLETED',
      'WORKFLOW_EXECUTION_SIGNALED',
      'START_CHILD_WORKFLOW_EXECUTION_INITIATED',
      'CHILD_WORKFLOW_EXECUTION_STARTED',
      'CHILD_WORKFLOW_EXECUTION_COMPLETED',
      'WORKFLOW_EXECUTION_COMPLETED',
    ]) {
      assert.ok(events.includes(expected), `${expected} missing from ${events.join(', ')}`);
    }
    assert.equal(events.filter((e) => e === 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED').length, 2, events.join(', '));
    assert.equal(events.filter((e) => e === 'WORKFLOW_EXECUTION_UPDATE_COMPLETED').length, 2, events.join(', '));
    assert.equal(events.at(-1), 'WORKFLOW_EXECUTION_COMPLETED');
    assert.ok(events.indexOf('ACTIVITY_TASK_COMPLETED') < events.indexOf('TIMER_FIRED'));
    assert.ok(events.indexOf('WORKFLOW_EXECUTION_SIGNALED') < events.indexOf('START_CHILD_WORKFLOW_EXECUTION_INITIATED'));

    // The child ran as its own workflow, with its parent recorded.
    const child = client.workflow.getHandle(`${workflowId}-child`);
    assert.equal(await child.result(), 20);
    const childDescription = await child.describe();
    assert.equal(childDescription.status.name, 'COMPLETED');
    assert.equal(childDescription.type, 'doubleWorkflow');
    assert.equal(childDescription.parentExecution?.workflowId, workflowId);
    const childEvents = await eventTypes(child);
    assert.ok(childEvents.includes('TIMER_FIRED'), childEvents.join(', '));
    assert.equal(childEvents.at(-1), 'WORKFLOW_EXECUTION_COMPLETED');

    // The history replays in the SDK without nondeterminism (and so does the child's).
    const bundle = await workflowBundle();
    await Worker.runReplayHistory({ workflowBundle: bundle }, await handle.fetchHistory(), workflowId);
    await Worker.runReplayHistory({ workflowBundle: bundle }, await child.fetchHistory(), `${workflowId}-child`);

    const description = await handle.describe();
    assert.equal(description.status.name, 'COMPLETED');
    assert.equal(description.type, 'orderWorkflow');
    assert.equal(description.taskQueue, taskQueue);
    assert.equal(description.historyLength, events.length);
  });

  it('retries a failing activity on the server until it succeeds', { timeout: TEST_TIMEOUT }, async () => {
    const handle = await client.workflow.start(retryWorkflow, { args: [2], taskQueue, workflowId: uniqueId('retry') });
    assert.equal(await handle.result(), 'succeeded on attempt 3');
    const history = await handle.fetchHistory();
    const started = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
    // Retried attempts are not written to the history: one started event, for the last attempt.
    assert.equal(started.length, 1);
    assert.equal(started[0].activityTaskStartedEventAttributes?.attempt, 3);
    assert.ok((await eventTypes(handle)).includes('ACTIVITY_TASK_COMPLETED'));
  });

  it('fails the workflow with a non-retryable activity failure', { timeout: TEST_TIMEOUT }, async () => {
    const handle = await client.workflow.start(failingActivityWorkflow, { taskQueue, workflowId: uniqueId('act-fail') });
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError, `unexpected ${String(err)}`);
      assert.ok(err.cause instanceof ActivityFailure, `unexpected cause ${String(err.cause)}`);
      assert.equal(err.cause.activityType, 'failHard');
      const root = err.cause.cause;
      assert.ok(root instanceof ApplicationFailure, `unexpected root cause ${String(root)}`);
      assert.equal(root.type, 'HardFailure');
      assert.equal(root.message, 'boom');
      return true;
    });
    const events = await eventTypes(handle);
    assert.ok(events.includes('ACTIVITY_TASK_FAILED'), events.join(', '));
    assert.equal(events.at(-1), 'WORKFLOW_EXECUTION_FAILED');
  });

  it('reports a workflow failure with its type and details', { timeout: TEST_TIMEOUT }, async () => {
    const handle = await client.workflow.start(failingWorkflow, { args: ['bad input'], taskQueue, workflowId: uniqueId('wf-fail') });
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError, `unexpected ${String(err)}`);
      assert.ok(err.cause instanceof ApplicationFailure, `unexpected cause ${String(err.cause)}`);
      assert.equal(err.cause.message, 'bad input');
      assert.equal(err.cause.type, 'MyError');
      assert.deepEqual(err.cause.details, [42]);
      return true;
    });
    assert.equal((await handle.describe()).status.name, 'FAILED');
  });

  it('follows continue-as-new to the last run', { timeout: TEST_TIMEOUT }, async () => {
    const workflowId = uniqueId('counter');
    const handle = await client.workflow.start(counterWorkflow, { args: [0, 3], taskQueue, workflowId });
    assert.equal(await handle.result(), 3);
    const firstRun = client.workflow.getHandle(workflowId, handle.firstExecutionRunId);
    assert.equal((await eventTypes(firstRun)).at(-1), 'WORKFLOW_EXECUTION_CONTINUED_AS_NEW');
    const latest = await client.workflow.getHandle(workflowId).describe();
    assert.notEqual(latest.runId, handle.firstExecutionRunId);
    assert.equal(latest.status.name, 'COMPLETED');
    const runs = [];
    for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      runs.push(run.status.name);
    }
    assert.deepEqual(runs.sort(), ['COMPLETED', 'CONTINUED_AS_NEW', 'CONTINUED_AS_NEW', 'CONTINUED_AS_NEW']);
  });

  it('cancels a workflow, which cleans up and ends cancelled', { timeout: TEST_TIMEOUT }, async () => {
    const handle = await client.workflow.start(cancellableWorkflow, { taskQueue, workflowId: uniqueId('cancel') });
    await handle.signal(approveSignal, 'bob');
    // Cancel once the worker has handled the signal (a completed workflow task after it).
    await waitFor('the signal to be processed', async () => {
      const events = await eventTypes(handle);
      return events.lastIndexOf('WORKFLOW_TASK_COMPLETED') > events.indexOf('WORKFLOW_EXECUTION_SIGNALED');
    });
    await handle.cancel();
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError, `unexpected ${String(err)}`);
      assert.ok(err.cause instanceof CancelledFailure, `unexpected cause ${String(err.cause)}`);
      return true;
    });
    const events = await eventTypes(handle);
    assert.ok(events.includes('WORKFLOW_EXECUTION_CANCEL_REQUESTED'), events.join(', '));
    assert.ok(events.includes('ACTIVITY_TASK_COMPLETED'), events.join(', '));
    assert.equal(events.at(-1), 'WORKFLOW_EXECUTION_CANCELED');
    assert.equal((await handle.describe()).status.name, 'CANCELLED');
  });

  it('starts a workflow with signal-with-start and refuses a duplicate id', { timeout: TEST_TIMEOUT }, async () => {
    const workflowId = uniqueId('sws');
    const handle = await client.workflow.signalWithStart(signalledWorkflow, {
      workflowId,
      taskQueue,
      signal: approveSignal,
      signalArgs: ['carol'],
    });
    await assert.rejects(
      client.workflow.start(signalledWorkflow, { workflowId, taskQueue }),
      WorkflowExecutionAlreadyStartedError,
    );
    assert.equal(await handle.result(), 'signalled by carol');
    const events = await eventTypes(handle);
    assert.deepEqual(events.slice(0, 2), ['WORKFLOW_EXECUTION_STARTED', 'WORKFLOW_EXECUTION_SIGNALED']);
  });

  it('terminates a running workflow', { timeout: TEST_TIMEOUT }, async () => {
    const handle = await client.workflow.start(signalledWorkflow, { taskQueue, workflowId: uniqueId('terminate') });
    await handle.terminate('enough');
    await assert.rejects(handle.result(), WorkflowFailedError);
    const description = await handle.describe();
    assert.equal(description.status.name, 'TERMINATED');
    assert.equal((await eventTypes(handle)).at(-1), 'WORKFLOW_EXECUTION_TERMINATED');
  });

  it('lists and counts workflows by type', { timeout: TEST_TIMEOUT }, async () => {
    const ids = [uniqueId('listed'), uniqueId('listed')];
    for (const id of ids) {
      await client.workflow.execute(retryWorkflow, { args: [0], taskQueue, workflowId: id });
    }
    const listed: string[] = [];
    for await (const info of client.workflow.list({ query: `WorkflowType = 'retryWorkflow' AND ExecutionStatus = 'Completed'` })) {
      listed.push(info.workflowId);
    }
    for (const id of ids) assert.ok(listed.includes(id), `${id} not in ${listed.join(', ')}`);
    const { count } = await client.workflow.count(`WorkflowType = 'retryWorkflow'`);
    assert.equal(count, listed.length);
  });

  it('runs a local activity, recorded as a marker', { timeout: TEST_TIMEOUT }, async () => {
    const handle = await client.workflow.start(localActivityWorkflow, { args: ['local'], taskQueue, workflowId: uniqueId('local') });
    assert.equal(await handle.result(), 'Hello, local!');
    const events = await eventTypes(handle);
    assert.ok(events.includes('MARKER_RECORDED'), events.join(', '));
    assert.ok(!events.includes('ACTIVITY_TASK_SCHEDULED'), events.join(', '));
  });

  it('cancels a heartbeating activity, which acknowledges the cancellation', { timeout: TEST_TIMEOUT }, async () => {
    const started = once(hooks, 'waitForCancel');
    const handle = await client.workflow.start(cancelActivityWorkflow, { taskQueue, workflowId: uniqueId('act-cancel') });
    await started;
    await handle.signal(approveSignal, 'cancel it');
    assert.equal(await handle.result(), 'activity cancelled');
    const events = await eventTypes(handle);
    assert.ok(events.includes('ACTIVITY_TASK_CANCEL_REQUESTED'), events.join(', '));
    assert.ok(events.includes('ACTIVITY_TASK_CANCELED'), events.join(', '));
    assert.equal(events.at(-1), 'WORKFLOW_EXECUTION_COMPLETED');
  });

  it('completes an activity asynchronously with its task token', { timeout: TEST_TIMEOUT }, async () => {
    const tokenPromise = once(hooks, 'completeLater');
    const handle = await client.workflow.start(asyncCompletionWorkflow, { taskQueue, workflowId: uniqueId('async') });
    const [taskToken] = (await tokenPromise) as [Uint8Array];
    await client.activity.heartbeat(taskToken, 'still working');
    await client.activity.complete(taskToken, 'completed from outside');
    assert.equal(await handle.result(), 'completed from outside');
    assert.ok((await eventTypes(handle)).includes('ACTIVITY_TASK_COMPLETED'));
  });

  it('starts a workflow together with an update (update-with-start)', { timeout: TEST_TIMEOUT }, async () => {
    const workflowId = uniqueId('uws');
    const first = new WithStartWorkflowOperation(accumulatorWorkflow, {
      workflowId,
      taskQueue,
      workflowIdConflictPolicy: 'FAIL',
    });
    assert.equal(await client.workflow.executeUpdateWithStart(addUpdate, { args: [5], startWorkflowOperation: first }), 5);
    const handle = await first.workflowHandle();
    // With USE_EXISTING, the second update goes to the running workflow.
    const second = new WithStartWorkflowOperation(accumulatorWorkflow, {
      workflowId,
      taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    assert.equal(await client.workflow.executeUpdateWithStart(addUpdate, { args: [7], startWorkflowOperation: second }), 12);
    assert.equal((await second.workflowHandle()).workflowId, workflowId);
    assert.equal((await client.workflow.count(`WorkflowId = '${workflowId}'`)).count, 1);
    await handle.signal(approveSignal, 'done');
    assert.equal(await handle.result(), 12);
    const events = await eventTypes(handle);
    assert.equal(events.filter((e) => e === 'WORKFLOW_EXECUTION_UPDATE_COMPLETED').length, 2, events.join(', '));
  });
});
