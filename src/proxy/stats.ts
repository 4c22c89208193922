// `stats` of the proxy: magent's own lines, then real counters as STAT lines, then END.
//
// Contract: pure text composition. magent 0.5 answers
//   memcached agent v0.5
//   matrix 1 -> 127.0.0.1:11211, pool size 0
//   END
// We print the same header lines (and `backup N -> ...` lines for -b servers, in the same shape),
// then `STAT <name> <value>` lines: the proxy's own figures, and per server
// `STAT matrix:<n>:<counter>` / `STAT backup:<n>:<counter>`.

import type { Backend } from "./backend.ts";
import { agent_line } from "./config.ts";

/** Field names are memcached's STAT names (so `uptime` and `time` are seconds). */
export interface ProxyFigures {
  pid: number;
  uptime: number;
  time: number;
  version: string;
  curr_connections: number;
  total_connections: number;
  rejected_connections: number;
  connections_max: number;
  cmd_get: number;
  cmd_set: number;
  cmd_touch: number;
  cmd_flush: number;
  cmd_other: number;
  bytes_read: number;
  bytes_written: number;
  /** Clients closed because replies held for them passed client_output_pending_bytes_max. */
  clients_closed_output_bound: number;
}

function header(role: string, index: number, backend: Backend): string {
  return `${role} ${index + 1} -> ${backend.name}, pool size ${backend.poolSize}\r\n`;
}

function serverLines(role: string, index: number, backend: Backend): string {
  const c = backend.counters;
  const prefix = `STAT ${role}:${index + 1}:`;
  const lines: Array<[string, string | number]> = [
    ["address", backend.name],
    ["state", backend.stateName],
    ["pool_size", backend.poolSize],
    ["queued", backend.queued],
    ["requests", c.parts],
    ["replies", c.replies],
    ["failures", c.failures],
    ["timeouts", c.timeouts],
    ["connect_failures", c.connect_failures],
    ["downs", c.downs],
    ["ups", c.ups],
    ["probes", c.probes],
    ["probe_failures", c.probe_failures],
    ["failover_requests", c.failover_parts],
    ["mirrored_writes", c.mirrored],
    ["backup_fills", c.fills],
    ["write_backs", c.write_backs],
    ["dropped_replies", c.dropped_replies],
    ["cut_connections", c.cut_connections],
    ["meta_get", ["unknown", "yes", "no"][backend.meta]!],
  ];
  if (backend.last_error !== "") lines.push(["last_error", backend.last_error.replace(/\s+/g, "_")]);
  return lines.map(([name, value]) => `${prefix}${name} ${value}\r\n`).join("");
}

export function statsText(figures: ProxyFigures, mains: readonly Backend[], backups: readonly Backend[]): string {
  let text = `${agent_line}\r\n`;
  mains.forEach((backend, i) => (text += header("matrix", i, backend)));
  backups.forEach((backend, i) => (text += header("backup", i, backend)));
  for (const [name, value] of Object.entries(figures)) text += `STAT ${name} ${value}\r\n`;
  mains.forEach((backend, i) => (text += serverLines("matrix", i, backend)));
  backups.forEach((backend, i) => (text += serverLines("backup", i, backend)));
  return text + "END\r\n";
}
