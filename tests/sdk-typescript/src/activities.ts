import { activityInfo, ApplicationFailure, CompleteAsyncError, Context, heartbeat } from '@temporalio/activity';
import { hooks } from './hooks';

export async function greet(name: string): Promise<string> {
  return `Hello, ${name}!`;
}

/** Fails its first `failures` attempts, then reports the attempt that succeeded. */
export async function flaky(failures: number): Promise<string> {
  const { attempt } = activityInfo();
  heartbeat(attempt);
  if (attempt <= failures) {
    throw new Error(`attempt ${attempt} failed`);
  }
  return `succeeded on attempt ${attempt}`;
}

export async function failHard(message: string): Promise<string> {
  throw ApplicationFailure.nonRetryable(message, 'HardFailure');
}

/** Heartbeats until cancelled, after telling the test (via `hooks`) that it runs. */
export async function waitForCancel(): Promise<string> {
  const ctx = Context.current();
  hooks.emit('waitForCancel', activityInfo());
  for (;;) {
    ctx.heartbeat();
    await Promise.race([ctx.sleep(100), ctx.cancelled]);
  }
}

/** Hands its task token to the test and returns without completing. */
export async function completeLater(): Promise<string> {
  hooks.emit('completeLater', activityInfo().taskToken);
  throw new CompleteAsyncError();
}
