"""Scale-out on a real PostgreSQL server (Debian's package: initdb and pg_ctl run as the postgres
user on a loopback port; .ci/run installs the package where it is missing): two `rfkit design`
worker processes started together on a fresh database and one study."""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server of its own on 127.0.0.1, trust authentication, stopped after the module."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL not installed (apt-get install postgresql; .ci/run does)")
    if os.geteuid() != 0:
        pytest.skip("the PostgreSQL fixture runs initdb as the postgres user, which needs root")
    root = Path(tempfile.mkdtemp(prefix="rfkit-pg-"))  # pytest's own tmp folders are closed to other users
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    shutil.chown(root, "postgres")
    shutil.chown(sockets, "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_postgres + [initdb, "-D", str(data), "--auth=trust", "-U", "postgres"], check=True,
                   capture_output=True)
    port = _free_port()
    subprocess.run(as_postgres + [pg_ctl, "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                                  f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_postgres + [pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_started_together_share_one_postgres_study(postgres, tmp_path, mnist_dir):
    args = [sys.executable, "-m", "rfkit", "design", f"{HERE / 'design_spaces.py'}:tiny", "--storage", postgres,
            "--study", "shared", "--trials", 6, "--epochs", 1, "--val", 64, "--data-dir", mnist_dir]
    procs = [subprocess.Popen(list(map(str, args + ["--out", tmp_path / f"m{i}", "--seed", i + 1])),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    designs = [json.loads((tmp_path / f"m{i}" / "design.json").read_text()) for i in range(2)]
    assert all(d["storage"] == postgres for d in designs)  # no password in this URL to mask
    numbers = [t["number"] for t in designs[1]["trials"]]
    assert numbers == sorted(set(numbers)) and len(numbers) >= 6
    ran = [{int(line.split()[1]) for line in out.splitlines() if line.startswith("trial ")} for out, _ in results]
    assert ran[0] and ran[1] and not ran[0] & ran[1]  # each trial ran in one worker
    front = [designs[i]["front"] for i in range(2)]
    from rfkit.search import study as studies

    reread = studies.pareto_front(designs[1]["trials"], with_macs=False)
    assert front[0] == front[1] == reread or front[0] == reread  # read from either after both finished
    final = json.loads(subprocess.run([sys.executable, "-c", f"""
import json, optuna
s = optuna.load_study(study_name='shared', storage={postgres!r})
print(json.dumps(sorted(t.number for t in s.trials)))"""], capture_output=True, text=True, check=True).stdout)
    assert final == list(range(len(final))) and len(final) in (6, 7)


def test_the_password_of_a_storage_url_is_masked():
    from rfkit.search.study import mask

    assert mask("postgresql://rf:secret@db.example/designs") == "postgresql://rf:***@db.example/designs"
