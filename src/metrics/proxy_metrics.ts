// The proxy's /metrics page (magent_*): the figures its `stats` prints, per backend labelled
// {server="host:port", role="main"|"backup"}, and each backend's reply latency histogram.
//
// Contract: `proxyMetricsText(figures, mains, backups)` is pure over what it is given and
// returns the exposition text. Values come from ProxyFigures and BackendCounters, the sources
// `stats` prints (src/proxy/stats.ts); the histogram's _count equals the backend's `replies`.

import type { Backend, BackendCounters } from "../proxy/backend.ts";
import { BackendState } from "../proxy/backend.ts";
import type { ProxyFigures } from "../proxy/stats.ts";
import { Exposition, type Labels, type MetricType } from "./exposition.ts";
import { latency_buckets_s } from "./histogram.ts";

type FigureName = keyof ProxyFigures;
const proxy_plain: ReadonlyArray<readonly [FigureName, string, MetricType, string]> = [
  ["uptime", "magent_uptime_seconds", "gauge", "Seconds since the proxy started."],
  ["curr_connections", "magent_current_connections", "gauge", "Client connections open now."],
  ["connections_max", "magent_max_connections", "gauge", "Client connections allowed (-n)."],
  ["total_connections", "magent_connections_total", "counter", "Client connections accepted since start."],
  ["rejected_connections", "magent_connections_rejected_total", "counter", "Client connections refused at -n."],
  ["bytes_read", "magent_read_bytes_total", "counter", "Bytes read from clients."],
  ["bytes_written", "magent_written_bytes_total", "counter", "Bytes written to clients."],
  ["clients_closed_output_bound", "magent_clients_closed_output_bound_total", "counter", "Clients closed past their output bound."],
];

const command_figures: ReadonlyArray<readonly [FigureName, string]> = [
  ["cmd_get", "get"], ["cmd_set", "set"], ["cmd_touch", "touch"], ["cmd_flush", "flush"], ["cmd_other", "other"],
];

type CounterName = keyof BackendCounters;
const backend_counters: ReadonlyArray<readonly [CounterName, string, string]> = [
  ["parts", "magent_backend_requests_total", "Requests sent to the server (a multi-get counts once per server)."],
  ["replies", "magent_backend_replies_total", "Requests the server answered."],
  ["failures", "magent_backend_errors_total", "Requests failed by a lost connection, a timeout or a down mark."],
  ["timeouts", "magent_backend_timeouts_total", "Request timeouts (each marks the server down)."],
  ["connect_failures", "magent_backend_connect_failures_total", "Connections that could not be opened."],
  ["downs", "magent_backend_downs_total", "Times the server was marked down."],
  ["ups", "magent_backend_ups_total", "Times a probe found the server back."],
  ["probes", "magent_backend_probes_total", "Probe connections opened while the server was down."],
  ["failover_parts", "magent_backend_failover_requests_total", "Requests this backup served for a down main server."],
];

export function proxyMetricsText(figures: ProxyFigures, mains: readonly Backend[], backups: readonly Backend[]): string {
  const out = new Exposition();
  out.one("magent_up", "gauge", "The proxy answers.", 1);
  out.one("magent_version", "gauge", "The version the proxy speaks as.", 1, { version: figures.version });
  for (const [figure, name, type, help] of proxy_plain) out.one(name, type, help, Number(figures[figure]));
  out.family("magent_commands_total", "counter", "Client commands by kind.");
  for (const [figure, command] of command_figures) out.sample(Number(figures[figure]), { command });
  backendFamilies(out, [...mains.map((b) => [b, "main"] as const), ...backups.map((b) => [b, "backup"] as const)]);
  return out.text();
}

type Tagged = ReadonlyArray<readonly [Backend, string]>;

function labelsOf(backend: Backend, role: string): Labels {
  return { server: backend.name, role };
}

function backendFamilies(out: Exposition, backends: Tagged): void {
  out.family("magent_backend_up", "gauge", "1 while the server takes requests; 0 while it is down or probed.");
  for (const [b, role] of backends) out.sample(b.state === BackendState.UP ? 1 : 0, labelsOf(b, role));
  out.family("magent_backend_pool_connections", "gauge", "Open connections to the server.");
  for (const [b, role] of backends) out.sample(b.poolSize, labelsOf(b, role));
  out.family("magent_backend_queued_requests", "gauge", "Requests queued or in flight on the server.");
  for (const [b, role] of backends) out.sample(b.queued, labelsOf(b, role));
  for (const [counter, name, help] of backend_counters) {
    out.family(name, "counter", help);
    for (const [b, role] of backends) out.sample(b.counters[counter], labelsOf(b, role));
  }
  latencyFamily(out, backends);
}

function latencyFamily(out: Exposition, backends: Tagged): void {
  out.family("magent_backend_request_duration_seconds", "histogram", "Time from queueing a request to the server's reply.");
  for (const [b, role] of backends) {
    const labels = labelsOf(b, role);
    const cumulative = b.latency.cumulative();
    latency_buckets_s.forEach((le, i) => out.sample(cumulative[i]!, { ...labels, le: String(le) }, "_bucket"));
    out.sample(cumulative[cumulative.length - 1]!, { ...labels, le: "+Inf" }, "_bucket");
    out.sample(b.latency.sum_s, labels, "_sum");
    out.sample(b.latency.count, labels, "_count");
  }
}
