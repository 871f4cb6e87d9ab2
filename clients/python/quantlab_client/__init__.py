"""Python client of the quantlab API (docs/API.md in the repository describes the endpoints).

    from quantlab_client import Client
    ql = Client()                       # QUANTLAB_URL, QUANTLAB_TOKEN
    run = ql.submit({"dataset": "mnist", "model": "mlp", "representation": {"kind": "fixed", "bits": 4}})
    doc = ql.wait(run["id"])            # follows the run's event stream; a tqdm bar if tqdm is installed
    ql.results(sweep="swp_…", frame=True)
"""
from .client import Client, QuantlabError, RunFailed, flatten
from .sse import Event, parse_events

__all__ = ["Client", "QuantlabError", "RunFailed", "Event", "parse_events", "flatten"]
__version__ = "0.1.0"
