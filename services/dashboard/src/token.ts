/** The API token lives in the browser's storage and goes with every API call (see api.ts). */
const KEY = 'quantlab.apiToken';

export function getToken(): string {
  try {
    return localStorage.getItem(KEY) ?? '';
  } catch {
    return '';
  }
}

export function setToken(token: string): void {
  const t = token.trim();
  if (t) localStorage.setItem(KEY, t);
  else localStorage.removeItem(KEY);
  window.dispatchEvent(new CustomEvent('quantlab:token'));
}

export function authHeaders(): Record<string, string> {
  const t = getToken();
  return t ? { Authorization: `Bearer ${t}` } : {};
}
