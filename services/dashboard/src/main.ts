import { $, fill, h } from './dom.ts';
import { authHeaders, getToken, setToken } from './token.ts';
import { startRouter, type Route } from './router.ts';
import { listView } from './views/list.ts';
import { runView } from './views/run.ts';
import { sweepView } from './views/sweep.ts';
import { compareView } from './views/compare.ts';
import { newRunView } from './views/new-run.ts';
import { newSweepView } from './views/new-sweep.ts';

const routes: Route[] = [
  { pattern: /^\/runs\/([^/]+)$/, nav: 'runs', view: runView },
  { pattern: /^\/sweeps\/([^/]+)$/, nav: 'runs', view: sweepView },
  { pattern: /^\/compare$/, nav: 'compare', view: compareView },
  { pattern: /^\/new\/run$/, nav: 'new-run', view: newRunView },
  { pattern: /^\/new\/sweep$/, nav: 'new-sweep', view: newSweepView },
  { pattern: /.*/, nav: 'runs', view: listView },
];

function setupToken(): void {
  const form = $('#token-form') as HTMLFormElement;
  const input = $('#token-input') as HTMLInputElement;
  const banner = $('#banner');
  input.value = getToken();
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setToken(input.value);
    banner.hidden = true;
    form.classList.remove('needs-token');
    // Re-render the current view so its calls go out again with the token.
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  });
  window.addEventListener('quantlab:unauthorized', () => {
    form.classList.add('needs-token');
    fill(banner, h('strong', null, 'The API needs a token. '), getToken() ? 'The saved token was refused; enter the right one above.' : 'Enter the API token above and press Save.');
    banner.hidden = false;
  });
}

/** Bull Board is a page of its own: trade the token for its short-lived cookie, then open it. */
function setupQueueLink(): void {
  const link = $('#queues-link') as HTMLAnchorElement;
  link.addEventListener('click', (e) => {
    e.preventDefault();
    fetch('admin/session', { method: 'POST', headers: authHeaders(), credentials: 'same-origin' }).then(
      (res) => {
        if (res.ok) window.location.href = link.href;
        else if (res.status === 401) window.dispatchEvent(new CustomEvent('quantlab:unauthorized'));
      },
      () => {},
    );
  });
}

setupToken();
setupQueueLink();
startRouter($('#view'), routes, (nav) => {
  for (const a of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) a.classList.toggle('active', a.dataset.nav === nav);
});
