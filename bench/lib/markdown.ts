// The results file, bench/results/<YYYY-MM-DD>.md: what ran, how, and what came out. Pure.

export interface WorkloadSection {
  id: string;
  title: string;
  /** The exact mcload command, with PORT for each server's port. */
  mcload_command: string;
  table_md: string;
  notes: string[];
}

export interface ReportDoc {
  date: string;
  /** The command line that produced the report. */
  invocation: string;
  /** How long the whole run took. */
  elapsed_min: number;
  environment: string[];
  method: string[];
  server_commands: string[];
  workloads: WorkloadSection[];
  chart_file: string | null;
  /** The threads part: memcached and ours at -t 1, 2 and 4, unpinned. */
  threads: { title: string; method: string[]; server_commands: string[]; sections: WorkloadSection[] } | null;
  rss: { title: string; mcload_command: string; table_md: string; notes: string[] } | null;
  micro: string | null;
  /** bench/proxy.ts's output: our magent vs nutcracker in front of the same backends. */
  proxy: string | null;
  problems: string[];
}

const bullet = (lines: readonly string[]) => lines.map((l) => `- ${l}`).join("\n");
const code = (text: string, lang = "") => `\`\`\`${lang}\n${text.trimEnd()}\n\`\`\``;

export function renderReport(doc: ReportDoc): string {
  const out: string[] = [`# repcached-bun benchmark, ${doc.date}`, "", `Produced by \`${doc.invocation}\` in ${doc.elapsed_min.toFixed(1)} min.`, ""];
  out.push("## Environment", "", bullet(doc.environment), "");
  out.push("## Method", "", bullet(doc.method), "");
  if (doc.problems.length > 0) out.push("## Problems in this run", "", bullet(doc.problems), "");
  if (doc.chart_file !== null) out.push("## Chart", "", `![median ops/s per workload and server](${doc.chart_file})`, "");
  if (doc.workloads.length > 0) {
    out.push("## Load comparison", "");
    out.push("Servers, started side by side, each on its own port (PORT below):", "", code(doc.server_commands.join("\n"), "sh"), "");
  }
  for (const w of doc.workloads) {
    out.push(`### ${w.id}: ${w.title}`, "", code(w.mcload_command, "sh"), "", w.table_md, "");
    if (w.notes.length > 0) out.push(bullet(w.notes), "");
  }
  if (doc.threads !== null) {
    out.push(`## ${doc.threads.title}`, "", bullet(doc.threads.method), "");
    out.push("Servers:", "", code(doc.threads.server_commands.join("\n"), "sh"), "");
    for (const w of doc.threads.sections) {
      out.push(`### ${w.id}: ${w.title}`, "", code(w.mcload_command, "sh"), "", w.table_md, "");
      if (w.notes.length > 0) out.push(bullet(w.notes), "");
    }
  }
  if (doc.rss !== null) {
    out.push(`## ${doc.rss.title}`, "", code(doc.rss.mcload_command, "sh"), "", doc.rss.table_md, "");
    if (doc.rss.notes.length > 0) out.push(bullet(doc.rss.notes), "");
  }
  if (doc.proxy !== null) {
    out.push("## Proxy: `bun run magent` vs nutcracker (twemproxy), same backends", "", "`bun bench/proxy.ts`", "", code(doc.proxy), "");
  }
  if (doc.micro !== null) out.push("## Micro-benchmarks (mitata)", "", code(doc.micro), "");
  return `${out.join("\n").trimEnd()}\n`;
}
