"""One validation pass over the parsed YAML: every problem is collected, none stops the pass."""

from __future__ import annotations

import datetime
import difflib
import os
import re
from pathlib import Path
from typing import Any

from reprostack.config.schema import (
    BuildConfig,
    ClusterConfig,
    Config,
    DatasetConfig,
    K8sConfig,
    LockConfig,
    MlflowConfig,
    RunConfig,
    SlurmConfig,
    TrackingConfig,
)
from reprostack.errors import UsageError
from reprostack.mounts import MOUNT_FORM, MOUNT_RE
from reprostack.redact import is_secret_name, redact_url

# The keys each mapping accepts; anything else is a typo until proven otherwise.
TOP_KEYS = (
    "name",
    "python",
    "platform",
    "cuda",
    "cudnn",
    "os",
    "base_image",
    "system_packages",
    "lock",
    "build",
    "env",
    "dev",
    "run",
    "tracking",
    "data",
    "cluster",
    "registry",
)
LOCK_KEYS = ("tool", "inputs", "dev_inputs", "exclude_newer", "extras", "groups")
BUILD_KEYS = ("ca_certificates", "host_ca_bundle")
DEV_KEYS = ("system_packages",)
RUN_KEYS = ("mode", "gpus", "mounts", "pass_env", "dir", "deterministic")
TRACKING_KEYS = ("mlflow",)
MLFLOW_KEYS = ("uri", "experiment")
DATASET_KEYS = ("path", "toy", "algorithm")
CLUSTER_KEYS = ("slurm", "k8s")
SLURM_KEYS = ("partition", "time", "runtime", "sbatch", "shared_check")
K8S_KEYS = ("namespace", "runs_pvc", "service_account")
SLURM_RUNTIMES = ("docker", "podman", "apptainer", "pyxis", "none")
# sbatch's --time forms: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS; or UNLIMITED.
SLURM_TIME_RE = re.compile(
    r"^(?:\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d{1,2}(?::\d{1,2}){0,2}|UNLIMITED|INFINITE)$"
)
# Kubernetes names (RFC 1123 labels), for namespaces, claims and service accounts.
K8S_NAME_RE = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
HASH_ALGORITHMS = ("blake3", "sha256")

LOCK_TOOLS = ("pip-tools", "poetry", "uv")
RUN_MODES = ("local", "dev", "prod")
PLATFORMS = ("linux/amd64", "linux/arm64")

NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
PYTHON_RE = re.compile(r"^3\.\d{1,2}(?:\.\d{1,2})?$")
CUDA_RE = re.compile(r"^\d{2}\.\d(?:\.\d)?$")
CUDNN_RE = re.compile(r"^\d{1,2}(?:\.\d+){0,3}$")
OS_RE = re.compile(r"^(?:ubuntu\d{2}\.\d{2}|debian\d{2}|rockylinux\d|ubi\d)$")
APT_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]*(?:=[A-Za-z0-9.+:~-]+)?$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
GPUS_RE = re.compile(r"^(?:auto|none|all|\d+|device=[\w,-]+|\"?device=[\w,-]+\"?)$")
# A registry host (a DNS name, IPv4 or [IPv6]) with an optional port and repository path.
REGISTRY_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)


def _default_name(root: Path) -> str:
    """Derive an image-safe project name from the folder name."""
    slug = re.sub(r"[^a-z0-9]+", "-", root.name.lower()).strip("-")
    return slug or "project"


class Validator:
    """Collects problems as ``repro.yaml:LINE: field: what is wrong (a fix)``."""

    def __init__(
        self,
        label: str,
        lines: dict[tuple[str, ...], int],
        root: Path,
        raw: dict[tuple[str, ...], str] | None = None,
    ) -> None:
        self.label = label
        self.raw = raw or {}
        self.lines = lines
        self.root = root
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def problem(self, path: tuple[str, ...], message: str) -> None:
        """Record one problem located at ``path``."""
        self.problems.append(self._located(path, message))

    def warning(self, path: tuple[str, ...], message: str) -> None:
        """Record something that stops nothing now, located like a problem."""
        self.warnings.append(self._located(path, message))

    def _located(self, path: tuple[str, ...], message: str) -> str:
        line = self.lines.get(path) or self.lines.get(path[:-1])
        where = f"{self.label}:{line}" if line else self.label
        field = ".".join(path) if path else "(top level)"
        return f"{where}: {field}: {message}"

    # -- typed readers: each returns a usable value even after reporting a problem --

    def mapping(self, data: Any, path: tuple[str, ...], keys: tuple[str, ...]) -> dict[str, Any]:
        """Return ``data`` as a dict, reporting a wrong type and every unknown key."""
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problem(path, f"expected a mapping of keys, got {_kind(data)}")
            return {}
        for key in data:
            if str(key) not in keys:
                close = difflib.get_close_matches(str(key), keys, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(keys)}"
                self.problem((*path, str(key)), f"unknown key; {hint}")
        return {str(k): v for k, v in data.items()}

    def text(
        self, data: dict[str, Any], key: str, path: tuple[str, ...], default: str | None
    ) -> str | None:
        """Return a string field; numbers are refused because YAML reads 3.10 as 3.1."""
        value = data.get(key, default)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            written = self.raw.get((*path, key), str(value))
            self.problem(
                (*path, key),
                f'{written} is read by YAML as the number {value!r}; quote it: {key}: "{written}"',
            )
        else:
            self.problem((*path, key), f"expected text, got {_kind(value)}")
        return default

    def strings(self, data: dict[str, Any], key: str, path: tuple[str, ...]) -> tuple[str, ...]:
        """Return a list-of-strings field (a single string is accepted as a list of one)."""
        value = data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list):
            self.problem((*path, key), f"expected a list, got {_kind(value)}")
            return ()
        out = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            else:
                self.problem((*path, key, str(index)), f"expected text, got {_kind(item)}")
        return tuple(out)

    def choice(self, value: str | None, path: tuple[str, ...], allowed: tuple[str, ...]) -> None:
        """Report ``value`` when it is not one of ``allowed``."""
        if value is not None and value not in allowed:
            close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(allowed)}"
            self.problem(path, f"'{value}' is not allowed; {hint}")

    def matches(
        self, value: str | None, path: tuple[str, ...], regex: re.Pattern[str], what: str
    ) -> None:
        """Report ``value`` when it does not match ``regex``; ``what`` says what was expected."""
        if value is not None and not regex.match(value):
            self.problem(path, f"'{value}' is not {what}")

    # -- the whole file --

    def build(self, data: Any, *, text_sha256: str, path: Path | None) -> Config | None:
        """Validate everything and return the Config (meaningful only without problems)."""
        top = self.mapping(data, (), TOP_KEYS)
        name = self.text(top, "name", (), None) or _default_name(self.root)
        self.matches(
            name,
            ("name",),
            NAME_RE,
            "a valid image name (lowercase letters, digits, '.', '_' or '-'; e.g. 'mnist')",
        )
        python = self.text(top, "python", (), "3.11") or "3.11"
        self.matches(python, ("python",), PYTHON_RE, "a Python version (e.g. '3.11')")
        platform = self.text(top, "platform", (), "linux/amd64") or "linux/amd64"
        self.choice(platform, ("platform",), PLATFORMS)
        cuda = self.text(top, "cuda", (), "none") or "none"
        if cuda not in ("none", "auto"):
            self.matches(
                cuda,
                ("cuda",),
                CUDA_RE,
                "a CUDA version (e.g. '12.4.1', or 'none' for CPU, 'auto')",
            )
        cudnn = self.text(top, "cudnn", (), None)
        self.matches(cudnn, ("cudnn",), CUDNN_RE, "a cuDNN major version (e.g. '9')")
        if cudnn is not None and cuda == "none":
            self.problem(("cudnn",), "cuDNN needs a CUDA base; set cuda: or remove cudnn:")
        os_name = self.text(top, "os", (), "ubuntu22.04") or "ubuntu22.04"
        self.matches(os_name, ("os",), OS_RE, "a base OS (e.g. 'ubuntu22.04', 'ubuntu24.04')")
        base_image = self.text(top, "base_image", (), None)
        system_packages = self.strings(top, "system_packages", ())
        for index, package in enumerate(system_packages):
            self.matches(package, ("system_packages", str(index)), APT_RE, "an apt package name")

        lock = self._lock(top.get("lock"))
        build = self._build(top.get("build"))
        env = self._env(top.get("env"))
        dev = self.mapping(top.get("dev"), ("dev",), DEV_KEYS)
        dev_packages = self.strings(dev, "system_packages", ("dev",))
        run = self._run(top.get("run"))
        tracking = self._tracking(top.get("tracking"), name)
        data = self._data(top.get("data"))
        cluster = self._cluster(top.get("cluster"))
        registry = self._registry(top)
        return Config(
            root=self.root,
            name=name,
            python=python,
            platform=platform,
            cuda=cuda,
            cudnn=cudnn,
            os=os_name,
            base_image=base_image,
            system_packages=system_packages,
            lock=lock,
            build=build,
            env=env,
            dev_system_packages=dev_packages,
            run=run,
            tracking=tracking,
            data=data,
            cluster=cluster,
            registry=registry,
            warnings=tuple(self.warnings),
            path=path,
            sha256=text_sha256 if path is not None else "",
        )

    def _lock(self, raw: Any) -> LockConfig:
        data = self.mapping(raw, ("lock",), LOCK_KEYS)
        tool = self.text(data, "tool", ("lock",), None)
        self.choice(tool, ("lock", "tool"), LOCK_TOOLS)
        return LockConfig(
            tool=tool,
            inputs=self.strings(data, "inputs", ("lock",)),
            dev_inputs=self.strings(data, "dev_inputs", ("lock",)),
            exclude_newer=self._exclude_newer(data.get("exclude_newer")),
            extras=self.strings(data, "extras", ("lock",)),
            groups=self.strings(data, "groups", ("lock",)),
        )

    def _exclude_newer(self, raw: Any) -> str | None:
        from reprostack.asof import parse_as_of

        if raw is None:
            return None
        # YAML reads an unquoted 2025-06-01 as a date: what the user wrote is what they meant.
        if isinstance(raw, (datetime.date, datetime.datetime)):
            text: Any = self.raw.get(("lock", "exclude_newer"), raw.isoformat())
        else:
            text = raw
        if not isinstance(text, str):
            self.problem(("lock", "exclude_newer"), f"expected a date, got {_kind(raw)}")
            return None
        try:
            return parse_as_of(text)
        except UsageError as error:
            self.problem(("lock", "exclude_newer"), error.message)
            return None

    def _build(self, raw: Any) -> BuildConfig:
        data = self.mapping(raw, ("build",), BUILD_KEYS)
        host_bundle = data.get("host_ca_bundle", False)
        if not isinstance(host_bundle, bool):
            self.problem(("build", "host_ca_bundle"), "expected true or false")
            host_bundle = False
        certs = self.strings(data, "ca_certificates", ("build",))
        for index, cert in enumerate(certs):
            if not (self.root / cert).is_file():
                self.problem(
                    ("build", "ca_certificates", str(index)),
                    f"'{cert}' is not a file (paths are relative to repro.yaml)",
                )
        return BuildConfig(ca_certificates=certs, host_ca_bundle=host_bundle)

    def _env(self, raw: Any) -> dict[str, str]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(("env",), f"expected a mapping of NAME: value, got {_kind(raw)}")
            return {}
        env: dict[str, str] = {}
        for key, value in raw.items():
            name = str(key)
            path = ("env", name)
            if not ENV_NAME_RE.match(name):
                self.problem(path, "not a valid environment variable name")
            elif is_secret_name(name):
                self.problem(
                    path,
                    "looks like a secret; env: is recorded in every run and "
                    "baked into images. List it under run.pass_env instead",
                )
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                self.problem(path, f"expected a text value, got {_kind(value)}; quote it")
                continue
            env[name] = str(value)
        return dict(sorted(env.items()))

    def _run(self, raw: Any) -> RunConfig:
        data = self.mapping(raw, ("run",), RUN_KEYS)
        mode = self.text(data, "mode", ("run",), "local") or "local"
        self.choice(mode, ("run", "mode"), RUN_MODES)
        gpus_raw = data.get("gpus", "auto")
        gpus = (
            str(gpus_raw)
            if isinstance(gpus_raw, int) and not isinstance(gpus_raw, bool)
            else self.text(data, "gpus", ("run",), "auto") or "auto"
        )
        self.matches(
            gpus,
            ("run", "gpus"),
            GPUS_RE,
            "a GPU request (auto, none, all, a count, or 'device=0,1')",
        )
        mounts = self.strings(data, "mounts", ("run",))
        for index, mount in enumerate(mounts):
            self.matches(
                mount,
                ("run", "mounts", str(index)),
                MOUNT_RE,
                MOUNT_FORM,
            )
        pass_env = self.strings(data, "pass_env", ("run",))
        for index, name in enumerate(pass_env):
            self.matches(
                name, ("run", "pass_env", str(index)), ENV_NAME_RE, "an environment variable name"
            )
        run_dir = self.text(data, "dir", ("run",), "runs") or "runs"
        if Path(run_dir).is_absolute() or ".." in Path(run_dir).parts:
            self.problem(("run", "dir"), f"'{run_dir}' must be a folder inside the project")
        elif not Path(run_dir).parts:
            self.problem(
                ("run", "dir"),
                f"'{run_dir}' is the project itself; runs need a folder of their own: try 'runs'",
            )
        elif Path(run_dir).parts[0] == ".git":
            self.problem(("run", "dir"), f"'{run_dir}' is inside .git; try 'runs'")
        deterministic = data.get("deterministic", False)
        if not isinstance(deterministic, bool):
            self.problem(("run", "deterministic"), "expected true or false")
            deterministic = False
        return RunConfig(mode=mode, gpus=gpus, mounts=mounts, pass_env=pass_env, dir=run_dir,
                         deterministic=deterministic)  # fmt: skip

    def _tracking(self, raw: Any, project: str) -> TrackingConfig:
        data = self.mapping(raw, ("tracking",), TRACKING_KEYS)
        if data.get("mlflow") is None:
            return TrackingConfig()
        path = ("tracking", "mlflow")
        mlflow = self.mapping(data["mlflow"], path, MLFLOW_KEYS)
        uri = self.text(mlflow, "uri", path, None)
        if not uri:
            self.problem((*path, "uri"), "missing; the tracking server, e.g. http://mlflow:5000")
            return TrackingConfig()
        if redact_url(uri) != uri:
            # repro.yaml is copied into every run record: credentials must not be in it.
            self.problem(
                (*path, "uri"),
                "holds credentials; remove them and set MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) in the environment",
            )
        experiment = self.text(mlflow, "experiment", path, None) or project
        return TrackingConfig(mlflow=MlflowConfig(uri=uri, experiment=experiment))

    def _cluster(self, raw: Any) -> ClusterConfig:
        data = self.mapping(raw, ("cluster",), CLUSTER_KEYS)
        path = ("cluster", "slurm")
        slurm = self.mapping(data.get("slurm"), path, SLURM_KEYS)
        partition = self.text(slurm, "partition", path, None)
        time = self.text(slurm, "time", path, None)
        what = "a Slurm time limit (minutes, 'HH:MM:SS' or 'D-HH:MM:SS')"
        self.matches(time, (*path, "time"), SLURM_TIME_RE, what)
        runtime = self.text(slurm, "runtime", path, "docker") or "docker"
        self.choice(runtime, (*path, "runtime"), SLURM_RUNTIMES)
        extra = self.strings(slurm, "sbatch", path)
        for index, line in enumerate(extra):
            if not line.startswith("-") or "\n" in line:
                message = f"'{line}' is not an sbatch option; write it as '--account=abc'"
                self.problem((*path, "sbatch", str(index)), message)
        shared_check = slurm.get("shared_check", True)
        if not isinstance(shared_check, bool):
            self.problem((*path, "shared_check"), "expected true or false")
            shared_check = True
        kpath = ("cluster", "k8s")
        k8s = self.mapping(data.get("k8s"), kpath, K8S_KEYS)
        names = {}
        for key in K8S_KEYS:
            value = self.text(k8s, key, kpath, None)
            what = "a Kubernetes name (lowercase letters, digits and '-')"
            self.matches(value, (*kpath, key), K8S_NAME_RE, what)
            names[key] = value
        return ClusterConfig(
            slurm=SlurmConfig(
                partition=partition,
                time=time,
                runtime=runtime,
                sbatch=extra,
                shared_check=shared_check,
            ),
            k8s=K8sConfig(
                namespace=names["namespace"] or "default",
                runs_pvc=names["runs_pvc"],
                service_account=names["service_account"],
            ),
        )

    def _registry(self, top: dict[str, Any]) -> str | None:
        """``registry:``: ``host[:port][/path]``; a scheme or credentials are refused."""
        value = self.text(top, "registry", (), None)
        if value is None:
            return None
        written = value.strip().rstrip("/")
        _, has_scheme, rest = written.partition("://")
        host_part = (rest if has_scheme else written).split("/", 1)[0]
        if "@" in host_part or redact_url(value) != value:
            # repro.yaml is copied into every run record and export.
            self.problem(
                ("registry",),
                "holds credentials; give only host[:port][/path] and log in with "
                "`docker login HOST` (docker's credential store keeps them, repro never sees "
                "them)",
            )
        elif has_scheme:
            self.problem(
                ("registry",),
                f"'{value}' has a scheme; give host[:port][/path] (e.g. '{rest}'): the engine "
                "chooses https, or http for registries it is told are insecure",
            )
        elif not REGISTRY_RE.match(written):
            self.problem(
                ("registry",),
                f"'{value}' is not a registry host[:port][/path] (e.g. "
                "'registry.example.com/team' or '127.0.0.1:5000'); paths are lowercase",
            )
        else:
            return written
        return None

    def _data(self, raw: Any) -> dict[str, DatasetConfig]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(("data",), f"expected a mapping of NAME: {{path: ...}}, got {_kind(raw)}")
            return {}
        datasets = {}
        for key, value in raw.items():
            name = str(key)
            dataset = self._dataset(name, value)
            if dataset is not None:
                datasets[name] = dataset
        return dict(sorted(datasets.items()))

    def _dataset(self, name: str, raw: Any) -> DatasetConfig | None:
        where = ("data", name)
        if not NAME_RE.match(name):
            # The name is a file name (lockfiles/data/<name>.json) and a fingerprint key.
            self.problem(where, "a dataset name uses lowercase letters, digits, '.', '_' or '-'")
        # `name: /path` is short for `name: {path: /path}`.
        if isinstance(raw, str):
            data: dict[str, Any] = {"path": raw}
        elif isinstance(raw, dict):
            data = self.mapping(raw, where, DATASET_KEYS)
        else:
            self.problem(where, f"expected {{path: ..., toy: ...}} or a path, got {_kind(raw)}")
            return None
        written = self.text(data, "path", where, None)
        if not written:
            self.problem((*where, "path"), "missing; give the dataset's folder or file")
            return None
        path = self._data_path(written)
        if not path.exists():
            self.warning(
                (*where, "path"),
                f"{written} does not exist on this machine; commands that read it will stop",
            )
        toy_text = self.text(data, "toy", where, None)
        toy = self._data_path(toy_text) if toy_text else None
        if toy is not None and (toy == path or path in toy.parents):
            self.problem((*where, "toy"), "the toy subset must live outside the dataset")
        algorithm = self.text(data, "algorithm", where, "") or ""
        if algorithm:
            self.choice(algorithm, (*where, "algorithm"), HASH_ALGORITHMS)
        return DatasetConfig(name, path, written, toy, algorithm)

    def _data_path(self, written: str) -> Path:
        """Absolute, with ``~`` expanded; relative to repro.yaml's folder otherwise."""
        path = Path(written).expanduser()
        return Path(os.path.normpath(path if path.is_absolute() else self.root / path))


def _kind(value: Any) -> str:
    """Name a YAML value's type the way a user would."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"text ('{value}')"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
