"""The service under hostile input and operator mistakes (issue 19), over real HTTP against uvicorn:
a second server on a live data directory, odd bytes in a model, a store that fails in the middle of
an upload or cannot be written, query parameters past SQLite's integers, structures past the limits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from service_fixtures import REPO, Server, conv_model, free_port, upload, wait_job


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("hard") / "data", workers=1).start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log.read_text()


def _running_job(c, seed: int) -> str:
    mid = upload(c, "/v1/models", conv_model(cin=16, cout=32, hw=128, seed=seed), "slow.onnx").json()["id"]
    job = c.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 2000}).json()["id"]
    deadline = time.monotonic() + 60
    while c.get(f"/v1/jobs/{job}").json()["state"] != "running":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    return job


def test_second_server_on_the_same_data_dir(server):
    """The second server stops with one line naming the directory and the owner's pid, before it
    touches anything: the first one's running job is not marked interrupted and still succeeds."""
    with server.client() as c:
        job = _running_job(c, seed=1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEPCONV_")}
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        second = subprocess.run([sys.executable, "-m", "sepconv.service", "--data-dir", str(server.data_dir),
                                 "--port", str(free_port()), "--workers", "1"],
                                cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode != 0
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert str(server.data_dir.resolve()) in lines[0] and f"pid {server.proc.pid}" in lines[0], lines[0]
        assert c.get(f"/v1/jobs/{job}").json()["state"] in ("running", "succeeded")  # not failed: interrupted
        done = wait_job(c, job, timeout=300)
        assert done["state"] == "succeeded", done
