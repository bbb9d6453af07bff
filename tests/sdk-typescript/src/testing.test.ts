// @temporalio/testing's environments launching the temper binary itself:
// `createLocal` runs `temper server start-dev …` with the flags it would pass to the Temporal CLI,
// `createTimeSkipping` runs `temper PORT`, the command line of Temporal's Java test server.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import * as activities from './activities';
import { eventTypes, installRuntime, requireBinary, TEMPER_BIN, uniqueId, waitFor, workflowBundle } from './harness';
import { addUpdate, approveSignal, orderWorkflow, sleepWorkflow, statusQuery } from './workflows';

const CUSTOMER_ID = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
const DAY_MS = 24 * 60 * 60 * 1000;

async function worker(env: TestWorkflowEnvironment, taskQueue: string): Promise<Worker> {
  return await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
  });
}

describe('TestWorkflowEnvironment launching temper', { timeout: 180_000 }, () => {
  it('createLocal starts temper with the dev-server flags and runs a workflow', { timeout: 90_000 }, async () => {
    requireBinary();
    installRuntime();
    const bundle = workflowBundle();
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: TEMPER_BIN },
        namespace: 'ts-testing',
        searchAttributes: [CUSTOMER_ID],
      },
    });
    try {
      assert.equal(env.supportsTimeSkipping, false);
      assert.equal(env.namespace, 'ts-testing');
      await bundle;
      const taskQueue = uniqueId('ts-local');
      const workflowId = uniqueId('local-order');
      const result = await (await worker(env, taskQueue)).runUntil(async () => {
        const handle = await env.client.workflow.start(orderWorkflow, {
          args: ['local'],
          taskQueue,
          workflowId,
          typedSearchAttributes: [{ key: CUSTOMER_ID, value: 'customer-7' }],
        });
        await waitFor('the workflow to wait', async () => (await handle.query(statusQuery)) === 'waiting');
        assert.equal(await handle.executeUpdate(addUpdate, { args: [12] }), 12);
        await handle.signal(approveSignal, 'local-tester');
        return await handle.result();
      });
      assert.equal(result.greeting, 'Hello, local!');
      assert.equal(result.child, 24);
      assert.equal(result.approvedBy, 'local-tester');

      // The namespace and the search attribute given to createLocal exist on the server.
      const listed: string[] = [];
      for await (const info of env.client.workflow.list({ query: `CustomerId = 'customer-7'` })) {
        listed.push(info.workflowId);
      }
      assert.deepEqual(listed, [workflowId]);
      const description = await env.client.workflow.getHandle(workflowId).describe();
      assert.equal(description.typedSearchAttributes.get(CUSTOMER_ID), 'customer-7');
    } finally {
      await env.teardown();
    }
  });

  it('createTimeSkipping starts temper as the test server: a one-day sleep ends at once', { timeout: 90_000 }, async () => {
    requireBinary();
    installRuntime();
    const bundle = workflowBundle();
    const env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: TEMPER_BIN } },
    });
    try {
      assert.equal(env.supportsTimeSkipping, true);
      await bundle;
      const taskQueue = uniqueId('ts-skipping');
      const workflowId = uniqueId('sleeper');
      const began = Date.now();
      const result = await (await worker(env, taskQueue)).runUntil(
        env.client.workflow.execute(sleepWorkflow, { args: [DAY_MS], taskQueue, workflowId }),
      );
      const elapsed = Date.now() - began;
      assert.ok(elapsed < 20_000, `a one-day sleep took ${elapsed} ms of real time`);
      const match = /^Hello, sleeper! after (\d+) ms$/.exec(result);
      assert.ok(match, result);
      const sleptMs = Number(match[1]);
      assert.ok(sleptMs >= DAY_MS && sleptMs < DAY_MS + 60_000, `workflow time advanced ${sleptMs} ms`);
      const events = await eventTypes(env.client.workflow.getHandle(workflowId));
      assert.ok(events.includes('TIMER_FIRED'), events.join(', '));
      assert.ok(events.includes('ACTIVITY_TASK_COMPLETED'), events.join(', '));

      // env.sleep moves the virtual clock without waiting.
      const before = await env.currentTimeMs();
      const sleepBegan = Date.now();
      await env.sleep('2 days');
      const after = await env.currentTimeMs();
      assert.ok(after - before >= 2 * DAY_MS, `clock moved ${after - before} ms`);
      assert.ok(Date.now() - sleepBegan < 10_000, 'env.sleep waited in real time');
    } finally {
      await env.teardown();
    }
  });
});
