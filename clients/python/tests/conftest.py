"""The tests run against a live quantlab (API + worker + Redis): QUANTLAB_URL names it. The Node suite's
test/python.client.test.ts starts one with its own key prefix and queue and runs pytest against it."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from quantlab_client import Client  # noqa: E402

# Small and quick: 1,000 MNIST training images, an mlp.
SMALL = {"dataset": "mnist", "model": "mlp", "training": {"epochs": 2, "trainLimit": 1000, "testLimit": 200, "batchSize": 50}}


@pytest.fixture(scope="session")
def url() -> str:
    url = os.environ.get("QUANTLAB_URL")
    if not url:
        pytest.fail("QUANTLAB_URL is not set: run these tests from the Node suite (test/python.client.test.ts) or against a running stack")
    return url


@pytest.fixture(scope="session")
def ql(url: str) -> Client:
    return Client(url)
