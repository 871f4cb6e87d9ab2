"""The quantlab API over HTTP with `requests`: experiments, sweeps, their live events, results and artifacts."""
import os
import sys
import time
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import quote as _quote

import requests

from .sse import Event, parse_events

FINAL = {"completed", "failed", "cancelled", "stopped"}


class QuantlabError(Exception):
    """A non-2xx answer: `status` and, when the API sent one, its problem+json document (`problem`)."""

    def __init__(self, message: str, status: int = 0, problem: Optional[dict] = None):
        super().__init__(message)
        self.status = status
        self.problem = problem or {}


class RunFailed(QuantlabError):
    """`wait(..., check=True)` on a run that ended other than completed; `doc` is its final document."""

    def __init__(self, doc: dict):
        reason = (doc.get("error") or {}).get("message")
        super().__init__(f"run {doc['id']} {doc['status']}" + (f": {reason}" if reason else ""))
        self.doc = doc


def quote(part: str) -> str:
    """An id as one path segment: "/" escaped too, so an id such as "../healthz" cannot name another endpoint
    (urllib3 resolves dot segments before sending)."""
    return _quote(part, safe="")


def _progress_bar(total: int, desc: str, enabled: Optional[bool]):
    """A tqdm bar when tqdm is installed (and progress is not off); None otherwise."""
    if enabled is False:
        return None
    try:
        from tqdm import tqdm  # optional
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="epoch", leave=True, file=sys.stderr)


def flatten(doc: dict) -> Dict[str, Any]:
    """One run document as a flat row: what a results table or a DataFrame needs."""
    cfg, m, r = doc["config"], doc.get("metrics") or {}, doc["config"]["representation"]
    wb = m.get("weightBytes") or {}
    return {
        "id": doc["id"],
        "name": doc.get("name"),
        "status": doc["status"],
        "sweep_id": doc.get("sweepId"),
        "baseline_id": doc.get("baselineId"),
        "dataset": cfg["dataset"],
        "model": cfg["model"],
        "phase": cfg["phase"],
        "kind": r["kind"],
        "bits": r.get("bits", 32),
        "representation": "float32" if r["kind"] == "float32" else f"{r['kind']}:{r['bits']}",
        "epochs": cfg["training"]["epochs"],
        "learning_rate": cfg["training"].get("learningRate"),
        "seed": cfg["training"].get("seed"),
        "test_accuracy": m.get("testAccuracy"),
        "relative_accuracy": m.get("relativeAccuracy"),
        "weight_bytes": wb.get("compact"),
        "weight_bytes_float32": wb.get("float32"),
        "compression_ratio": m.get("compressionRatio"),
        "error": (doc.get("error") or {}).get("message"),
    }


class Client:
    """A client of one quantlab API. `url` and `token` default to QUANTLAB_URL (http://127.0.0.1:3000) and QUANTLAB_TOKEN."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, timeout: float = 30.0):
        self.url = (url or os.environ.get("QUANTLAB_URL") or "http://127.0.0.1:3000").rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        token = token if token is not None else os.environ.get("QUANTLAB_TOKEN", "")
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # -- plumbing -------------------------------------------------------------------------------------------------

    def _check(self, method: str, path: str, r: requests.Response) -> requests.Response:
        if r.ok:
            return r
        problem: dict = {}
        try:
            body = r.json()
            if isinstance(body, dict):
                problem = body
        except ValueError:
            pass
        detail = problem.get("detail") or problem.get("title") or r.reason
        raise QuantlabError(f"{method} {path}: {r.status_code} {detail}", r.status_code, problem)

    def _call(self, method: str, path: str, **kw) -> requests.Response:
        try:
            r = self.session.request(method, self.url + path, timeout=kw.pop("timeout", self.timeout), **kw)
        except requests.ConnectionError as e:
            raise QuantlabError(f"cannot reach the API at {self.url} ({e.__class__.__name__})") from e
        return self._check(method, path, r)

    def _json(self, method: str, path: str, **kw) -> Any:
        r = self._call(method, path, **kw)
        return r.json() if r.content else None

    # -- experiments and sweeps -----------------------------------------------------------------------------------

    def submit(self, config: dict, idempotency_key: Optional[str] = None) -> dict:
        """POST /experiments: queues one run; returns {id, status, links}. The API fills in the defaults."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._json("POST", "/experiments", json=config, headers=headers)

    def submit_sweep(self, request: dict, idempotency_key: Optional[str] = None) -> dict:
        """POST /sweeps: a grid (`base` + `vary`) or a preset; returns {id, runs, baselines, links}."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._json("POST", "/sweeps", json=request, headers=headers)

    def run(self, run_id: str) -> dict:
        """GET /experiments/{id}: the run document, epochs included."""
        return self._json("GET", f"/experiments/{quote(run_id)}")

    def sweep(self, sweep_id: str) -> dict:
        """GET /sweeps/{id}: the sweep with its runs and summary."""
        return self._json("GET", f"/sweeps/{quote(sweep_id)}")

    def runs(self, **filters: Any) -> List[dict]:
        """GET /experiments, every page: filters status, sweep, dataset, kind (as the API takes them)."""
        out: List[dict] = []
        params = {k: v for k, v in filters.items() if v is not None}
        while True:
            page = self._json("GET", "/experiments", params=params)
            out += page["items"]
            if not page.get("nextCursor"):
                return out
            params["cursor"] = page["nextCursor"]

    def cancel(self, run_id: str) -> dict:
        path = f"/sweeps/{quote(run_id)}/cancel" if run_id.startswith("swp_") else f"/experiments/{quote(run_id)}/cancel"
        return self._json("POST", path)

    def delete(self, run_id: str) -> None:
        self._call("DELETE", f"/sweeps/{quote(run_id)}" if run_id.startswith("swp_") else f"/experiments/{quote(run_id)}")

    # -- following ------------------------------------------------------------------------------------------------

    def events(self, run_id: str, last_event_id: str = "", max_retries: int = 10, retry_s: float = 1.0) -> Iterator[Event]:
        """The run's live events (`snapshot`, then `status`, `progress`, `epoch`) until it ends.

        A lost connection is opened again with Last-Event-ID (up to `max_retries` failures in a row, waiting
        `retry_s` doubling up to 15 s); each connection opens with a `snapshot` of the whole run document, whose
        epochs after that id are the ones missed.
        """
        path = f"/experiments/{quote(run_id)}/events"
        last, failures = last_event_id, 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last:
                headers["Last-Event-ID"] = last
            try:
                with self.session.get(self.url + path, headers=headers, stream=True, timeout=(self.timeout, 120)) as r:
                    self._check("GET", path, r)
                    for ev in parse_events(_lines(r), last):
                        last, failures = ev.id, 0
                        yield ev
                        if ev.event == "status" and _json_field(ev.data, "status") in FINAL:
                            return
                        if ev.event == "snapshot" and _json_field(ev.data, "status") in FINAL:
                            return
                raise requests.ConnectionError("the event stream ended before the run did")
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
                failures += 1
                if failures > max_retries:
                    raise QuantlabError(f"following {run_id}: {e}") from e
                time.sleep(min(15.0, retry_s * 2 ** (failures - 1)))

    def wait(self, run_id: str, progress: Optional[bool] = None, check: bool = False) -> dict:
        """Follows the run to its end and returns its final document.

        progress: a tqdm bar of epochs when tqdm is installed (None: when it is; False: never). check=True raises
        RunFailed unless the run completed.
        """
        import json

        bar = None
        done = 0
        for ev in self.events(run_id):
            if ev.event == "snapshot":
                doc = json.loads(ev.data)
                if bar is None:
                    bar = _progress_bar(doc["progress"]["epochs"] or doc["config"]["training"]["epochs"], run_id, progress)
                n = len(doc.get("epochs") or [])
            elif ev.event == "epoch":
                n = json.loads(ev.data)["epoch"]["epoch"]
            else:
                continue
            if bar is not None and n > done:
                bar.update(n - done)
                last = None
                if ev.event == "epoch":
                    last = json.loads(ev.data)["epoch"].get("testAccuracy")
                if last is not None:
                    bar.set_postfix(test_acc=f"{last:.4f}")
            done = max(done, n)
        if bar is not None:
            bar.close()
        doc = self.run(run_id)
        if check and doc["status"] != "completed":
            raise RunFailed(doc)
        return doc

    def wait_sweep(self, sweep_id: str, progress: Optional[bool] = None, poll_s: float = 1.0, check: bool = False) -> dict:
        """Polls the sweep until every run ended; a tqdm bar of runs when tqdm is installed. Returns the sweep document."""
        bar = None
        ended = 0
        while True:
            s = self.sweep(sweep_id)
            n = sum(1 for r in s["runs"] if r["status"] in FINAL)
            if bar is None:
                bar = _progress_bar(len(s["runs"]), sweep_id, progress)
                if bar is not None:
                    bar.unit = "run"
            if bar is not None and n > ended:
                bar.update(n - ended)
            ended = n
            if n == len(s["runs"]):
                if bar is not None:
                    bar.close()
                # A run the sweep's stopping rule ended is an outcome of the search, not a failure.
                bad = [r for r in s["runs"] if r["status"] not in ("completed", "stopped")]
                if check and bad:
                    raise RunFailed(bad[0])
                return s
            time.sleep(poll_s)

    # -- results and artifacts ------------------------------------------------------------------------------------

    def results(self, sweep: Optional[str] = None, ids: Optional[List[str]] = None, frame: bool = False, **filters: Any):
        """Runs as flat rows (see `flatten`): a sweep's, the given ids, or all matching `filters`.

        frame=True returns a pandas DataFrame (pandas must be installed).
        """
        docs = [self.run(i) for i in ids] if ids is not None else self.runs(sweep=sweep, **filters)
        rows = [flatten(d) for d in docs]
        if not frame:
            return rows
        try:
            import pandas as pd  # optional
        except ImportError as e:
            raise ImportError("results(frame=True) needs pandas: pip install pandas (or quantlab-client[pandas])") from e
        return pd.DataFrame(rows)

    def download_artifact(self, run_id: str, path: Optional[str] = None) -> str:
        """GET /experiments/{id}/artifact into `path` (default ./RUN_ID.qlab); returns the path."""
        api_path = f"/experiments/{quote(run_id)}/artifact"
        target = path or f"{run_id}.qlab"
        r = self._call("GET", api_path, headers={"Accept": "application/octet-stream"}, stream=True)
        tmp = target + ".part"
        with open(tmp, "wb") as f:
            for chunk in r.iter_content(64 * 1024):
                f.write(chunk)
        os.replace(tmp, target)
        return target


def _lines(r: requests.Response) -> Iterator[str]:
    """The decoded lines of a streaming response, as they arrive (requests' iter_lines can hold back a line)."""
    buf = b""
    for chunk in r.iter_content(chunk_size=None):
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r").decode("utf-8")
    if buf:
        yield buf.rstrip(b"\r").decode("utf-8")


def _json_field(data: str, key: str) -> Any:
    import json

    try:
        v = json.loads(data)
    except ValueError:
        return None
    return v.get(key) if isinstance(v, dict) else None
