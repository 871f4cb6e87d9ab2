/** Hash routing: `#/path?query`. Each view gets an AbortSignal that fires when the user leaves it. */
export interface ViewContext {
  root: HTMLElement;
  params: string[];
  query: URLSearchParams;
  signal: AbortSignal;
}
export type View = (ctx: ViewContext) => void | Promise<void>;

export interface Route {
  pattern: RegExp;
  nav: string;
  view: View;
}

export function currentPath(): { path: string; query: URLSearchParams } {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, q = ''] = raw.split('?');
  return { path: path || '/', query: new URLSearchParams(q) };
}

export function startRouter(root: HTMLElement, routes: Route[], onNavigate: (nav: string) => void): void {
  let controller: AbortController | null = null;
  const go = () => {
    controller?.abort();
    controller = new AbortController();
    const { path, query } = currentPath();
    const route = routes.find((r) => r.pattern.test(path)) ?? routes[routes.length - 1];
    const params = (route.pattern.exec(path) ?? []).slice(1).map(decodeURIComponent);
    root.replaceChildren();
    onNavigate(route.nav);
    window.scrollTo(0, 0);
    void Promise.resolve(route.view({ root, params, query, signal: controller.signal }));
  };
  window.addEventListener('hashchange', go);
  go();
}

/** Calls fn now and then every `ms` until the signal aborts; fn's errors go to onError and polling goes on. */
export function every(ms: number, fn: () => Promise<void>, signal: AbortSignal, onError: (e: unknown) => void): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let busy = false;
  const tick = async () => {
    if (signal.aborted || busy) return;
    busy = true;
    try {
      // A tab in the background does not poll; it catches up on its next tick once visible.
      if (!document.hidden) await fn();
    } catch (e) {
      if (!signal.aborted) onError(e);
    }
    busy = false;
    if (!signal.aborted) timer = setTimeout(tick, ms);
  };
  const onVisible = () => {
    if (document.hidden || signal.aborted) return;
    clearTimeout(timer);
    void tick();
  };
  document.addEventListener('visibilitychange', onVisible);
  signal.addEventListener('abort', () => {
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  });
  void tick();
}
