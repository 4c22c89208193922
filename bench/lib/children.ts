// Every process the harness spawns, so an interrupted run can stop them all, each by its PID.
//
// Contract: `track` registers a subprocess until it exits; `killChildren` sends SIGKILL to each
// one still running and waits (bounded) for it to go.

const children = new Set<Bun.Subprocess>();
const kill_wait_ms = 2_000;

export function track<T extends Bun.Subprocess>(proc: T): T {
  children.add(proc);
  void proc.exited.finally(() => children.delete(proc));
  return proc;
}

export async function killChildren(): Promise<void> {
  const running = [...children];
  for (const proc of running) proc.kill("SIGKILL");
  await Promise.race([Promise.all(running.map((p) => p.exited)), Bun.sleep(kill_wait_ms)]);
}

/**
 * A bench's last step: runs `main`, then (whatever happened) `stop` (the bench's servers) and
 * killChildren, and exits with main's code — 1 after printing what it threw.
 */
export async function exitAfter(main: () => Promise<number>, stop: () => Promise<void>): Promise<never> {
  let code = 1;
  try {
    code = await main();
  } catch (error) {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  } finally {
    await stop();
    await killChildren();
  }
  process.exit(code);
}

/** Whether a bench was interrupted (SIGINT/SIGTERM): its loops stop early (stopOnSignals). */
export interface Interruption {
  interrupted: boolean;
}

/**
 * On the first SIGINT or SIGTERM: says so, runs `stop` (the bench's servers), then killChildren,
 * and exits 130. Returns the flag the bench's loops read.
 */
export function stopOnSignals(stop: () => Promise<void>): Interruption {
  const state: Interruption = { interrupted: false };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (state.interrupted) return;
      state.interrupted = true;
      console.log(`\n${signal}: stopping every process this run started`);
      void stop().then(killChildren).finally(() => process.exit(130));
    });
  }
  return state;
}
