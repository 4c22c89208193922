// The memory comparison: N items of one size loaded into fresh servers, resident memory before
// and after. `rssCells` is pure; `measureRss` spawns (and always stops) one server.
import { loadgenArgs, runLoadgen, type LoadSpec } from "./loadgen.ts";
import { readRssBytes } from "./proc.ts";
import * as probe from "./probe.ts";
import { startServer, type ServerEnv } from "./servers.ts";
import { fmtFixed, fmtInt, fmtMiB, none, oneLine, type Cells } from "./table.ts";
import type { ServerId } from "./workloads.ts";

export interface RssResult {
  server: ServerId;
  commands: string[];
  mcload_command: string;
  /** null when the server ran and was measured; else why not. */
  error: string | null;
  /** curr_items from `stats` after the load. */
  items: number | null;
  rss_idle_bytes: number | null;
  rss_loaded_bytes: number | null;
  preload_s: number | null;
}

const settle_ms = 500;
const preload_timeout_s = 300;

/**
 * The preload does the loading; the short measurement after it only rewrites existing keys with
 * values of the same size (set-only), which leaves memory as it is and needs no get support.
 */
export function rssSpec(items: number, value_bytes: number): LoadSpec {
  return {
    conns: 50, keys: items, value_min_bytes: value_bytes, value_max_bytes: value_bytes,
    get_ratio: 0, multiget: 1, pipeline: 1, preload: true,
  };
}

export async function measureRss(
  id: ServerId,
  env: ServerEnv,
  items: number,
  value_bytes: number,
  loadgen_cpu: number | null,
  loadgen_path_text: string,
): Promise<RssResult> {
  const options = { duration_s: 0.2, warmup_s: 0, cpu: loadgen_cpu, seed: 1, preload_timeout_s };
  const args_for = (port: number | string) => loadgenArgs(rssSpec(items, value_bytes), port, options);
  const result: RssResult = {
    server: id, commands: [], mcload_command: `${loadgen_path_text} ${args_for("PORT").join(" ")}`,
    error: null, items: null, rss_idle_bytes: null, rss_loaded_bytes: null, preload_s: null,
  };
  const started = await startServer(id, env);
  if (!started.ok) return { ...result, commands: started.commands, error: started.error };
  const server = started.server;
  result.commands = server.commands;
  try {
    await Bun.sleep(settle_ms);
    const pid = server.main.pid!;
    result.rss_idle_bytes = readRssBytes(pid);
    const run = await runLoadgen(args_for(server.port), (preload_timeout_s + 30) * 1000);
    result.preload_s = run.report?.preload_s ?? null;
    if (run.error !== null) return { ...result, error: run.error };
    if (run.report !== null && !run.report.preload_complete) return { ...result, error: "preload did not complete" };
    await Bun.sleep(settle_ms);
    result.rss_loaded_bytes = readRssBytes(pid);
    const items_text = (await probe.stats(server.port)).get("curr_items");
    result.items = items_text === undefined ? null : Number(items_text);
    const dead = server.deadNote();
    if (dead !== null) return { ...result, error: dead };
    return result;
  } catch (error) {
    return { ...result, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await server.stop();
  }
}

/** Table cells: RSS idle and loaded, the growth per item, and loaded RSS ÷ the baseline's. */
export function rssCells(results: readonly RssResult[], label: (id: string) => string, baseline: string): Cells {
  const headers = ["server", "items stored", "RSS idle MiB", "RSS loaded MiB", "growth B/item", `RSS ÷ ${label(baseline)}`, "note"];
  const numeric = headers.map((_, i) => i > 0 && i < headers.length - 1);
  const base = results.find((r) => r.server === baseline && r.error === null)?.rss_loaded_bytes ?? null;
  const rows = results.map((r) => {
    const growth = r.rss_idle_bytes !== null && r.rss_loaded_bytes !== null && r.items
      ? (r.rss_loaded_bytes - r.rss_idle_bytes) / r.items
      : null;
    const ratio = r.error === null && base !== null && r.rss_loaded_bytes !== null ? r.rss_loaded_bytes / base : null;
    const note = r.error !== null ? `failed: ${oneLine(r.error, 160)}` : r.preload_s !== null ? `loaded in ${r.preload_s.toFixed(1)} s` : "";
    return [
      label(r.server), fmtInt(r.items), fmtMiB(r.rss_idle_bytes), fmtMiB(r.rss_loaded_bytes), fmtInt(growth),
      r.server === baseline && ratio !== null ? "1 (baseline)" : ratio === null ? none : fmtFixed(ratio, 2), note,
    ];
  });
  return { headers, numeric, rows };
}
