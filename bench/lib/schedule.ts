// The order of a load comparison's runs. Pure.
//
// Rounds are outermost, so every server meets every workload once per round, close in time; within
// a round, workloads run in order and servers in an order rotated by the round (A B C, B C A, C A B,
// …), so slow drift of the machine (heat, other work, page cache) falls on each server alike and
// cancels in the per-round ratios.

/** items rotated left by `by` places: rotate([A, B, C], 1) is [B, C, A]. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  const n = items.length;
  if (n === 0) return [];
  const shift = ((by % n) + n) % n;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

export interface Step<W, S> {
  /** 0-based round number. */
  round: number;
  workload: W;
  server: S;
}

/** Every (round, workload, server) run in the order the harness performs them. */
export function schedule<W, S>(
  rounds: number,
  workloads: readonly W[],
  serversOf: (workload: W) => readonly S[],
): Step<W, S>[] {
  const steps: Step<W, S>[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const workload of workloads) {
      for (const server of rotate(serversOf(workload), round)) steps.push({ round, workload, server });
    }
  }
  return steps;
}
