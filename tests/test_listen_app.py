"""The listen server's app and its model worker, in this process (issue 22): per-app limits, the RNG."""

from __future__ import annotations

import pytest
import torch

from pipeline.translation.imaginer import Imaginer
from pipeline.translation.listen_server import Limits, make_app
from pipeline.translation.sounds import load_model
from test_translate import save_tiny_model


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model(save_tiny_model(tmp_path_factory.mktemp("model")), torch.device("cpu"))


def status_of(app) -> dict:
    route = next(r for r in app.routes if getattr(r, "path", "") == "/api/status")
    return route.endpoint()


def test_each_app_gets_its_own_default_limits(model):
    imaginer = Imaginer(model, samples=1)
    try:
        strict, other = make_app(imaginer), make_app(imaginer)
        strict.state.limits.max_upload_bytes = 1024  # one server made strict after it was built
        strict.state.limits.quiet_dbfs = -20.0
        assert other.state.limits == Limits()
        assert status_of(other)["limits"] == {"max_upload_bytes": Limits().max_upload_bytes, "max_file_seconds": Limits().max_file_seconds, "quiet_dbfs": Limits().quiet_dbfs}
        assert status_of(strict)["limits"]["max_upload_bytes"] == 1024
        assert make_app(imaginer).state.limits == Limits()  # and a later app starts from the defaults
        given = Limits(max_live_clients=2)
        assert make_app(imaginer, given).state.limits is given
    finally:
        imaginer.stop()
