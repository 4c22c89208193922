// The metrics HTTP listener (Bun.serve): `GET /metrics` answers the Prometheus text page that
// `render()` builds at that moment; anything else is an HTTP error, never a crash.
//
// Contract: `MetricsListener.start(host, port, render)` binds or throws (the caller prints the
// error and exits, as for the client ports); `stop()` closes it. Answers: 200 for GET or HEAD of
// /metrics (a query string is ignored), 404 for another path, 405 (with Allow) for another
// method, 500 if render throws (the error is not shown). Bounds: a request body is refused past
// `metrics_request_body_bytes_max` (the runtime answers 413); an idle connection is closed after
// `metrics_idle_timeout_s`; header sizes are the runtime's limit (it answers 431). The page is built
// synchronously per request, so nothing queues.

import { exposition_content_type } from "./exposition.ts";

export const metrics_path = "/metrics";
/** Scrapes send no body; anything above this is refused by the runtime (413). */
export const metrics_request_body_bytes_max = 1024;
/** Idle keep-alive connections are closed after this long (Prometheus scrapes every 15-60 s). */
export const metrics_idle_timeout_s = 10;

export type Render = () => string;

export class MetricsListener {
  private server: ReturnType<typeof Bun.serve> | null = null;

  start(host: string, port: number, render: Render): void {
    this.server = Bun.serve({
      hostname: host,
      port,
      maxRequestBodySize: metrics_request_body_bytes_max,
      idleTimeout: metrics_idle_timeout_s,
      development: false, // no error pages with stack traces...
      reusePort: false, // ...and which (with development off) would otherwise share a taken port
      fetch: (request) => answer(request, render),
      error: () => new Response("internal error\n", { status: 500 }),
    });
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return this.server?.port ?? 0;
  }

  stop(): void {
    this.server?.stop(true);
    this.server = null;
  }
}

function answer(request: Request, render: Render): Response {
  const path = pathOf(request.url);
  if (path !== metrics_path) return new Response("not found\n", { status: 404 });
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { Allow: "GET, HEAD" } });
  }
  let body: string;
  try {
    body = render();
  } catch {
    return new Response("internal error\n", { status: 500 });
  }
  return new Response(request.method === "HEAD" ? null : body, { headers: { "Content-Type": exposition_content_type } });
}

/** The path of a request URL (Bun hands full URLs); "" when it does not parse. */
function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return "";
  }
}
