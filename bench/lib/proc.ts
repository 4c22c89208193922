// A process's CPU time and resident memory, from Linux's /proc.
//
// Contract: the parsers are pure and return null for text they do not recognize; the readers
// return null when the process is gone (or this is not Linux). CPU time is utime + stime of
// /proc/<pid>/stat (fields 14 and 15, clock ticks; the process only, not its waited-for
// children), RSS is VmRSS of /proc/<pid>/status.
import { readFileSync } from "node:fs";

/** USER_HZ: the tick of /proc times. 100 on every Linux architecture we run on (getconf CLK_TCK). */
export const clock_ticks_per_s = 100;

/** utime + stime in clock ticks, from the text of /proc/<pid>/stat. */
export function parseStatCpuTicks(stat_text: string): number | null {
  // Field 2 is "(comm)" and comm may hold spaces or parentheses: fields resume after the last ')'.
  const comm_end = stat_text.lastIndexOf(")");
  if (comm_end < 0) return null;
  const fields = stat_text.slice(comm_end + 1).trim().split(/\s+/);
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  const utime_ticks = Number(fields[14 - 3]);
  const stime_ticks = Number(fields[15 - 3]);
  if (!Number.isInteger(utime_ticks) || !Number.isInteger(stime_ticks)) return null;
  return utime_ticks + stime_ticks;
}

/** VmRSS in bytes, from the text of /proc/<pid>/status. */
export function parseVmRssBytes(status_text: string): number | null {
  const match = /^VmRSS:\s+(\d+)\s+kB\s*$/m.exec(status_text);
  if (match === null) return null;
  return Number(match[1]) * 1024;
}

function readProc(pid: number, name: string): string | null {
  try {
    return readFileSync(`/proc/${pid}/${name}`, "latin1");
  } catch {
    return null;
  }
}

/** The process's user + system CPU seconds so far, or null if it cannot be read. */
export function readCpuSeconds(pid: number): number | null {
  const text = readProc(pid, "stat");
  if (text === null) return null;
  const ticks = parseStatCpuTicks(text);
  return ticks === null ? null : ticks / clock_ticks_per_s;
}

/** The process's resident set size in bytes, or null if it cannot be read. */
export function readRssBytes(pid: number): number | null {
  const text = readProc(pid, "status");
  return text === null ? null : parseVmRssBytes(text);
}

/** Busy clock ticks of the whole machine (all CPUs), from the "cpu" line of /proc/stat. */
export function parseMachineBusyTicks(proc_stat_text: string): number | null {
  const line = proc_stat_text.split("\n").find((l) => l.startsWith("cpu "));
  if (line === undefined) return null;
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = [user, nice, system, irq, softirq, steal];
  if (busy.some((v) => v === undefined || !Number.isFinite(v))) return null;
  return busy.reduce((sum, v) => sum! + v!, 0)!;
}

export function readMachineBusySeconds(): number | null {
  try {
    const ticks = parseMachineBusyTicks(readFileSync("/proc/stat", "latin1"));
    return ticks === null ? null : ticks / clock_ticks_per_s;
  } catch {
    return null;
  }
}

/** A counter read at a moment (performance.now() milliseconds). */
export interface Reading {
  t_ms: number;
  value: number;
}

/**
 * The counter's growth over [start_ms, end_ms], interpolating linearly between the readings around
 * each end. null when the readings do not cover the window (with one reading of slack at the ends).
 */
export function growthOver(readings: readonly Reading[], start_ms: number, end_ms: number): number | null {
  const at = (t_ms: number): number | null => {
    if (readings.length === 0) return null;
    const first = readings[0]!;
    const last = readings[readings.length - 1]!;
    if (t_ms <= first.t_ms) return t_ms === first.t_ms ? first.value : null;
    if (t_ms >= last.t_ms) return t_ms === last.t_ms ? last.value : null;
    for (let i = 1; i < readings.length; i++) {
      const b = readings[i]!;
      if (b.t_ms < t_ms) continue;
      const a = readings[i - 1]!;
      return a.value + ((b.value - a.value) * (t_ms - a.t_ms)) / (b.t_ms - a.t_ms);
    }
    return null;
  };
  const start = at(start_ms);
  const end = at(end_ms);
  return start === null || end === null ? null : end - start;
}

export const sample_interval_ms = 100;

/**
 * Reads a server's (and its peer's) CPU seconds and the machine's busy seconds every
 * sample_interval_ms while a run goes on, so the harness can cut out the measured window.
 */
export class CpuSampler {
  readonly server: Reading[] = [];
  readonly peer: Reading[] = [];
  readonly machine: Reading[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly server_pid: number | null;
  private readonly peer_pid: number | null;

  constructor(server_pid: number | null, peer_pid: number | null) {
    this.server_pid = server_pid;
    this.peer_pid = peer_pid;
  }

  start(): void {
    this.take();
    this.timer = setInterval(() => this.take(), sample_interval_ms);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.take();
  }

  private take(): void {
    const t_ms = performance.now();
    const push = (into: Reading[], value: number | null) => {
      if (value !== null) into.push({ t_ms, value });
    };
    if (this.server_pid !== null) push(this.server, readCpuSeconds(this.server_pid));
    if (this.peer_pid !== null) push(this.peer, readCpuSeconds(this.peer_pid));
    push(this.machine, readMachineBusySeconds());
  }
}

/** Growth of the counter from its first reading to its last. */
export function totalGrowth(readings: readonly Reading[]): number | null {
  if (readings.length < 2) return null;
  return readings[readings.length - 1]!.value - readings[0]!.value;
}
