// The proxy's metrics endpoint: binds --metrics-listen (else -l) : --metrics-port, renders from
// the figures the proxy's `stats` prints (proxy_metrics.ts), per scrape.
//
// Contract: `startProxyMetrics(proxy, settings, report)` returns null when off (port 0), else the
// bound listener. A bind failure is reported (to a waiting daemon parent too) and exits 71.

import type { ProxySettings } from "../proxy/config.ts";
import type { ProxyServer } from "../proxy/proxy.ts";
import { MetricsListener } from "./listener.ts";
import { proxyMetricsText } from "./proxy_metrics.ts";

const exit_code_listen = 71;

export function startProxyMetrics(proxy: ProxyServer, settings: ProxySettings, report: (line: string) => void): MetricsListener | null {
  if (settings.metrics_port === 0) return null;
  const listener = new MetricsListener();
  const render = () => proxyMetricsText(proxy.figuresNow(), proxy.mains, proxy.backups);
  try {
    listener.start(settings.metrics_listen ?? settings.listen_host, settings.metrics_port, render);
  } catch (error) {
    const message = `magent: failed to listen on the metrics port ${settings.metrics_port}: ${String(error)}`;
    report(message);
    console.error(message);
    process.exit(exit_code_listen);
  }
  return listener;
}
