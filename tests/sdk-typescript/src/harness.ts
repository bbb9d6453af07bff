// Shared helpers: the temper binary on a free port, the bundled workflows, history event names.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  bundleWorkflowCode,
  DefaultLogger,
  type LogLevel,
  Runtime,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import type { WorkflowHandle } from '@temporalio/client';

/** The binary under test: $TEMPER_BIN or target/debug/temper of this repository. */
export const TEMPER_BIN = path.resolve(
  process.env.TEMPER_BIN ?? path.join(__dirname, '..', '..', '..', 'target', 'debug', 'temper'),
);

let runtimeInstalled = false;
/** Sets the SDK's log level (errors only by default). Call before any worker or connection. */
export function installRuntime(): void {
  if (!runtimeInstalled) {
    // Expected failures (retried activities, failing workflows) are logged by the SDK as warnings:
    // keep the output to errors unless TEMPER_TS_LOG_LEVEL says otherwise (e.g. WARN, INFO, DEBUG).
    const level = (process.env.TEMPER_TS_LOG_LEVEL ?? 'ERROR').toUpperCase() as LogLevel;
    Runtime.install({
      logger: new DefaultLogger(level),
      telemetryOptions: { logging: { filter: { core: level, other: level } } },
    });
    runtimeInstalled = true;
  }
}

export function requireBinary(): void {
  if (!fs.existsSync(TEMPER_BIN)) {
    throw new Error(`${TEMPER_BIN} is missing: build it with \`cargo build -p temper\``);
  }
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One `temper server start-dev --headless` process (in-memory SQLite) on a free port. */
export class TemperServer {
  readonly logPath: string;
  private process?: ChildProcess;
  private exited?: Promise<void>;
  private exitCode: number | null = null;

  private constructor(readonly port: number) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'temper-ts-'));
    this.logPath = path.join(dir, 'temper.log');
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(extraArgs: string[] = []): Promise<TemperServer> {
    requireBinary();
    const server = new TemperServer(await freePort());
    await server.launch(extraArgs);
    return server;
  }

  private async launch(extraArgs: string[]): Promise<void> {
    const log = fs.openSync(this.logPath, 'a');
    const args = ['server', 'start-dev', '--port', String(this.port), '--headless', ...extraArgs];
    const child = spawn(TEMPER_BIN, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.process = child;
    // Never leave a server behind, even when the test process ends early.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        this.exitCode = code;
        resolve();
      });
    });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.exitCode !== null || child.exitCode !== null) {
        throw new Error(`temper exited with ${child.exitCode} before listening:\n${this.logTail()}`);
      }
      if (await canConnect(this.port)) return;
      await delay(50);
    }
    await this.stop();
    throw new Error(`temper did not listen on ${this.port} within 30 s:\n${this.logTail()}`);
  }

  logTail(lines = 40): string {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      this.exited!.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), 10_000);
      }),
    ]);
    clearTimeout(timer);
    if (!stopped) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflows of workflows.ts, bundled once per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('./workflows'),
    logger: new DefaultLogger('WARN'),
  });
  return bundle;
}

/** The event types of a run's history, without the EVENT_TYPE_ prefix. */
export async function eventTypes(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).map((event) =>
    String(temporal.api.enums.v1.EventType[event.eventType ?? 0]).replace(/^EVENT_TYPE_/, ''),
  );
}

/** Polls `probe` until it returns true (or throws the last error after `timeoutMs`). */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    await delay(100);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
