import json
import os
import socket
import threading

import pytest

from quantlab_client import Client, QuantlabError, RunFailed, parse_events

from conftest import SMALL


def test_parse_events_keeps_the_last_id_and_skips_comments():
    lines = ["retry: 3000", "id: 2", "event: snapshot", 'data: {"a":', "data: 1}", "", ": ping", "", "event: status", "data: {}", "", "id: 3", "event: epoch", "data: {}", ""]
    evs = list(parse_events(lines))
    assert [(e.event, e.data, e.id) for e in evs] == [("snapshot", '{"a":\n1}', "2"), ("status", "{}", "2"), ("epoch", "{}", "3")]


def test_submit_wait_results_and_artifact(ql, tmp_path, capfd):
    acc = ql.submit({**SMALL, "name": "py-fixed4", "representation": {"kind": "fixed", "bits": 4}})
    assert acc["status"] == "queued" and acc["id"].startswith("run_")
    doc = ql.wait(acc["id"], check=True)
    assert doc["status"] == "completed"
    assert [e["epoch"] for e in doc["epochs"]] == [1, 2]
    err = capfd.readouterr().err
    try:
        import tqdm  # noqa: F401

        assert "2/2" in err, err  # the tqdm bar reached the last epoch
    except ImportError:
        assert err == ""
    rows = ql.results(ids=[acc["id"]])
    assert len(rows) == 1
    row = rows[0]
    assert row["representation"] == "fixed:4" and row["bits"] == 4 and row["status"] == "completed"
    assert 0.5 < row["test_accuracy"] <= 1
    assert row["weight_bytes"] < row["weight_bytes_float32"]
    path = ql.download_artifact(acc["id"], str(tmp_path / "m.qlab"))
    data = open(path, "rb").read()
    assert len(data) > 0
    assert len(data) < row["weight_bytes_float32"]


def test_a_failed_run_raises_run_failed_with_its_reason(ql):
    acc = ql.submit({"dataset": "cifar10", "model": "mlp", "training": {"epochs": 1}})
    doc = ql.wait(acc["id"], progress=False)
    assert doc["status"] == "failed"
    with pytest.raises(RunFailed, match=r"failed: .*(?i:cifar)"):
        ql.wait(acc["id"], progress=False, check=True)


def test_bad_input_is_a_quantlab_error_with_the_problem(ql):
    with pytest.raises(QuantlabError) as e:
        ql.submit({**SMALL, "representation": {"kind": "fixed", "bits": 40}})
    assert e.value.status == 400
    assert "representation.bits" in str(e.value)
    assert e.value.problem["status"] == 400
    with pytest.raises(QuantlabError, match="404"):
        ql.run("run_doesnotexist")
    with pytest.raises(QuantlabError, match="cannot reach the API"):
        Client("http://127.0.0.1:9").runs()


def test_sweep_wait_and_results_as_rows_or_frame(ql):
    acc = ql.submit_sweep({"name": "py-sweep", "base": SMALL, "vary": {"representation": [{"kind": "dictionary", "bits": 2}]}})
    assert len(acc["runs"]) == 2  # the run and its float32 baseline
    s = ql.wait_sweep(acc["id"], poll_s=0.2, check=True)
    assert {r["status"] for r in s["runs"]} == {"completed"}
    rows = ql.results(sweep=acc["id"])
    assert sorted(r["representation"] for r in rows) == ["dictionary:2", "float32"]
    assert all(r["sweep_id"] == acc["id"] for r in rows)
    quantized = next(r for r in rows if r["kind"] == "dictionary")
    assert quantized["relative_accuracy"] is not None
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="needs pandas"):
            ql.results(sweep=acc["id"], frame=True)
    else:
        df = ql.results(sweep=acc["id"], frame=True)
        assert list(df.sort_values("bits")["bits"]) == [2, 32]


class FlakyProxy:
    """A TCP proxy that records request heads and drops the first event stream once it carried an epoch."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.heads = []
        self.cuts = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            state = {"events": False}
            threading.Thread(target=self._pump, args=(client, upstream, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, state, False), daemon=True).start()

    def _pump(self, src, dst, state, request):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if request and data[:4] == b"GET ":
                    head = data.split(b"\r\n\r\n")[0].decode("latin1")
                    self.heads.append(head)
                    state["events"] = "/events" in head.split(" ")[1]
                dst.sendall(data)
                if not request and state["events"] and self.cuts == 0 and b"event: epoch" in data:
                    self.cuts += 1
                    break
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.server.close()


def test_a_dropped_event_stream_resumes_with_last_event_id(ql, url):
    from urllib.parse import urlparse

    proxy = FlakyProxy(urlparse(url).port)
    try:
        acc = ql.submit({**SMALL, "training": {**SMALL["training"], "epochs": 3}})
        flaky = Client(f"http://127.0.0.1:{proxy.port}")
        seen = []
        for ev in flaky.events(acc["id"], retry_s=0.1):
            if ev.event == "epoch":
                seen.append(json.loads(ev.data)["epoch"]["epoch"])
            elif ev.event == "snapshot":
                seen += [e["epoch"] for e in json.loads(ev.data)["epochs"] if not seen or e["epoch"] > seen[-1]]
        assert seen == [1, 2, 3]
        assert proxy.cuts == 1
        streams = [h for h in proxy.heads if f"/experiments/{acc['id']}/events" in h]
        assert len(streams) >= 2
        assert "last-event-id" not in streams[0].lower()
        assert any(line.lower().startswith("last-event-id: ") for line in streams[1].split("\r\n")), streams[1]
        assert flaky.run(acc["id"])["status"] == "completed"
    finally:
        proxy.close()


def test_an_id_is_one_path_segment(ql):
    # "../healthz" must reach the API as an id it refuses, not be resolved by urllib3 to GET /healthz
    for call in (ql.run, ql.sweep, lambda i: ql.download_artifact(i, os.devnull), ql.delete):
        with pytest.raises(QuantlabError) as e:
            call("../healthz")
        assert e.value.status in (400, 404), e.value
    with pytest.raises(QuantlabError) as e:
        list(ql.events("../../healthz"))
    assert e.value.status in (400, 404)
