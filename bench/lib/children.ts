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
