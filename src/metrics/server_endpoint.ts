// The server's metrics endpoint: picks the address, binds the listener, renders from `stats`.
//
// Contract: `startServerMetrics(server, settings)` returns null when metrics are off (port 0);
// else the bound listener, whose page is `stats` + `stats replication` as Prometheus metrics
// (server_metrics.ts), built per scrape. A bind failure exits 71 with one line, as the client
// ports do. The address is --metrics-listen, else the first -l host, else every address.

import { listenAddressSplit, type Settings } from "../config.ts";
import type { Server } from "../server/server.ts";
import { MetricsListener } from "./listener.ts";
import { serverMetricsText } from "./server_metrics.ts";

const exit_code_listen = 71;

export function metricsHost(settings: Settings): string {
  if (settings.metrics_listen !== null) return settings.metrics_listen;
  const first = settings.listen_addresses[0];
  if (first === undefined) return "0.0.0.0";
  return listenAddressSplit(first)?.host ?? "0.0.0.0";
}

export function startServerMetrics(server: Server, settings: Settings): MetricsListener | null {
  if (settings.metrics_port === 0) return null;
  const listener = new MetricsListener();
  const render = () => serverMetricsText(server.binaryStatLines("") ?? [], server.binaryStatLines("replication"));
  try {
    listener.start(metricsHost(settings), settings.metrics_port, render);
  } catch (error) {
    console.error(`failed to listen on the metrics port ${settings.metrics_port}: ${String(error)}`);
    process.exit(exit_code_listen);
  }
  return listener;
}
