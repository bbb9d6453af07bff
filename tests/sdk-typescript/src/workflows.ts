// Workflows run by the suite. The worker bundles this file with webpack (from dist/workflows.js),
// so it may import only @temporalio/workflow and type-only imports.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  executeChild,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  workflowInfo,
  ActivityCancellationType,
  ActivityFailure,
  CancelledFailure,
} from '@temporalio/workflow';
import type * as activities from './activities';

const { greet } = proxyActivities<typeof activities>({ startToCloseTimeout: '30 seconds' });
const { flaky } = proxyActivities<typeof activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '100 milliseconds', backoffCoefficient: 1, maximumAttempts: 5 },
});
const { failHard } = proxyActivities<typeof activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '100 milliseconds', maximumAttempts: 3 },
});

const { greet: greetLocally } = proxyLocalActivities<typeof activities>({ startToCloseTimeout: '30 seconds' });
const { waitForCancel } = proxyActivities<typeof activities>({
  startToCloseTimeout: '60 seconds',
  heartbeatTimeout: '5 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});
const { completeLater } = proxyActivities<typeof activities>({ startToCloseTimeout: '60 seconds' });

export const approveSignal = defineSignal<[string]>('approve');
export const statusQuery = defineQuery<string>('status');
export const addUpdate = defineUpdate<number, [number]>('add');

export interface OrderResult {
  greeting: string;
  approvedBy: string;
  total: number;
  child: number;
  childWorkflowId: string;
}

/** An activity, a timer, then waits for a signal and updates; queries report its progress. */
export async function orderWorkflow(name: string): Promise<OrderResult> {
  let status = 'started';
  let approvedBy: string | undefined;
  let total = 0;
  setHandler(statusQuery, () => status);
  setHandler(approveSignal, (who: string) => {
    approvedBy = who;
  });
  setHandler(
    addUpdate,
    (n: number) => {
      total += n;
      return total;
    },
    {
      validator: (n: number) => {
        if (n < 0) throw new Error(`cannot add ${n}`);
      },
    },
  );

  const greeting = await greet(name);
  status = 'greeted';
  await sleep('1 second');
  status = 'waiting';
  await condition(() => approvedBy !== undefined && total >= 10);
  status = 'approved';
  const childWorkflowId = `${workflowInfo().workflowId}-child`;
  const child = await executeChild(doubleWorkflow, { args: [total], workflowId: childWorkflowId });
  status = 'done';
  return { greeting, approvedBy: approvedBy!, total, child, childWorkflowId };
}

/** The child: a short timer, then doubles its input. */
export async function doubleWorkflow(n: number): Promise<number> {
  await sleep(50);
  return n * 2;
}

/** An activity that fails on its first attempts and is retried by the server. */
export async function retryWorkflow(failures: number): Promise<string> {
  return await flaky(failures);
}

/** A non-retryable activity failure fails the workflow. */
export async function failingActivityWorkflow(): Promise<string> {
  return await failHard('boom');
}

/** A workflow failure raised by workflow code. */
export async function failingWorkflow(message: string): Promise<never> {
  throw ApplicationFailure.create({ message, type: 'MyError', nonRetryable: true, details: [42] });
}

/** Counts to `limit` across runs with continue-as-new. */
export async function counterWorkflow(count: number, limit: number): Promise<number> {
  if (count < limit) {
    await continueAsNew<typeof counterWorkflow>(count + 1, limit);
  }
  return count;
}

/** Waits for signals until cancelled; reports what it got during cleanup. */
export async function cancellableWorkflow(): Promise<string> {
  const received: string[] = [];
  setHandler(approveSignal, (who: string) => {
    received.push(who);
  });
  try {
    await condition(() => false);
    return 'unreachable';
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => greet('cleanup'));
    }
    throw err;
  }
}

/** Started by signal-with-start: the signal is delivered before the first task. */
export async function signalledWorkflow(): Promise<string> {
  let who: string | undefined;
  setHandler(approveSignal, (w: string) => {
    who = w;
  });
  await condition(() => who !== undefined);
  return `signalled by ${who}`;
}

/** Sleeps a long time (a day, for the time-skipping server). */
export async function sleepWorkflow(ms: number): Promise<string> {
  const before = Date.now();
  await sleep(ms);
  const greeting = await greet('sleeper');
  return `${greeting} after ${Date.now() - before} ms`;
}

/** A local activity: recorded as a marker, no activity task on the server. */
export async function localActivityWorkflow(name: string): Promise<string> {
  return await greetLocally(name);
}

/** Cancels a heartbeating activity once it has started and waits for it to acknowledge. */
export async function cancelActivityWorkflow(): Promise<string> {
  const scope = new CancellationScope();
  const activity = scope.run(() => waitForCancel());
  let started = false;
  setHandler(approveSignal, () => {
    started = true;
  });
  await condition(() => started);
  scope.cancel();
  try {
    await activity;
    return 'not cancelled';
  } catch (err) {
    if (err instanceof ActivityFailure && err.cause instanceof CancelledFailure) {
      return 'activity cancelled';
    }
    throw err;
  }
}

/** Runs an activity that the test completes asynchronously with its task token. */
export async function asyncCompletionWorkflow(): Promise<string> {
  return await completeLater();
}

/** Update-with-start: the update arrives with the start; the workflow ends when told to. */
export async function accumulatorWorkflow(): Promise<number> {
  let total = 0;
  let done = false;
  setHandler(addUpdate, (n: number) => {
    total += n;
    return total;
  });
  setHandler(approveSignal, () => {
    done = true;
  });
  await condition(() => done);
  return total;
}
