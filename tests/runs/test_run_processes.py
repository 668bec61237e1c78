"""`repro run` owns its process tree: groups, signals, nohup, daemons, dying with repro.

Every test runs the real CLI on a real process tree and sends real signals.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from projects import demo_project
from reprostack.record.ids import RUN_ID_RE

REPRO = [sys.executable, "-m", "reprostack"]


def start(project: Path, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [*REPRO, "run", *args],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def only_record(project: Path) -> dict[str, object]:
    (run,) = [p for p in (project / "runs").iterdir() if RUN_ID_RE.match(p.name)]
    data: dict[str, object] = yaml.safe_load((run / "run.yaml").read_text())
    return data


def wait_for(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().endswith("\n"):
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.05)
    return False


SPAWNER = """\
import os, subprocess, sys, time
from pathlib import Path
out = Path(os.environ["REPRO_OUTPUT_DIR"])
{spawn}
print("ready", flush=True)
(out / "pids").write_text(f"{{os.getpid()}} {{helper.pid}}\\n")
{then}
"""


def test_a_daemon_holding_stdout_does_not_hang_the_run(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "daemon.py").write_text(
        SPAWNER.format(
            # A daemon of its own session: not in the command's group, holding its stdout.
            spawn="helper = subprocess.Popen(['sleep', '60'], start_new_session=True)",
            then="sys.exit(0)",
        )
    )
    started = time.monotonic()
    proc = start(project, "daemon.py")
    out, err = proc.communicate(timeout=30)
    try:
        assert proc.returncode == 0, err
        assert time.monotonic() - started < 20
        assert out == "ready\n"
        record = only_record(project)
        assert record["status"] == "succeeded"
        assert any("still holds it" in note for note in record["notes"])  # type: ignore[union-attr]
    finally:
        run = next(p for p in (project / "runs").iterdir() if RUN_ID_RE.match(p.name))
        os.kill(int(wait_for(run / "outputs" / "pids").split()[1]), signal.SIGKILL)


def test_sigterm_reaches_the_whole_group_and_exits_143(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "tree.py").write_text(
        SPAWNER.format(spawn="helper = subprocess.Popen(['sleep', '60'])", then="time.sleep(60)")
    )
    proc = start(project, "tree.py")
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    run = next(p for p in (project / "runs").iterdir() if RUN_ID_RE.match(p.name))
    child, grandchild = map(int, wait_for(run / "outputs" / "pids").split())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert wait_gone(child) and wait_gone(grandchild)
    record = only_record(project)
    assert (record["status"], record["exit_code"], record["signals"]) == (
        "interrupted",
        143,
        ["SIGTERM"],
    )


def test_a_signal_the_command_survives_is_not_an_interruption(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "stubborn.py").write_text(
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(2)\nprint('done', flush=True)\n"
    )
    proc = start(project, "stubborn.py")
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == "done\n"
    record = only_record(project)
    assert (record["status"], record["exit_code"], record["signals"]) == (
        "succeeded",
        0,
        ["SIGINT"],
    )


def test_nohup_keeps_sighup_ignored_for_repro_and_the_command(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "hup.py").write_text(
        "import signal, time\n"
        "print('ignored' if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN else 'default',"
        " flush=True)\ntime.sleep(1.5)\n"
    )

    def ignore_hup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = start(project, "hup.py", preexec_fn=ignore_hup)
    assert proc.stdout is not None and proc.stdout.readline() == "ignored\n"
    proc.send_signal(signal.SIGHUP)  # as when the terminal closes
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert only_record(project)["status"] == "succeeded"


def test_kill_9_of_repro_takes_the_command_along_and_the_run_shows_lost(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "long.py").write_text(
        SPAWNER.format(spawn="helper = subprocess.Popen(['true'])", then="time.sleep(60)")
    )
    proc = start(project, "long.py")
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    run = next(p for p in (project / "runs").iterdir() if RUN_ID_RE.match(p.name))
    child = int(wait_for(run / "outputs" / "pids").split()[0])
    record = only_record(project)
    assert (record["pid"], record["host"]) == (proc.pid, os.uname().nodename)
    assert record["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    proc.kill()
    proc.wait(timeout=10)
    assert wait_gone(child), "the command outlived repro"
    listed = subprocess.run(
        [*REPRO, "runs"], cwd=project, capture_output=True, text=True, check=False, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert [run.name, "local", "lost"] in [line.split()[:3] for line in listed.stdout.splitlines()]
    assert only_record(project)["status"] == "running"  # the record itself is left as it was


def sparse_project(tmp_path: Path) -> Path:
    """A project whose start is slow: a huge (sparse) untracked file must be hashed."""
    project = demo_project(tmp_path / "p")
    with (project / "huge.bin").open("wb") as handle:
        handle.truncate(64 * 1024**3)
    (project / "quick.py").write_text("print('ran')\n")
    return project


def test_ctrl_c_before_the_command_starts_leaves_interrupted_and_no_leftovers(
    tmp_path: Path,
) -> None:
    for signum, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        project = sparse_project(tmp_path / signal.Signals(signum).name)
        scratch = tmp_path / f"tmp-{signum}"  # repro's own temporary folder, watched
        scratch.mkdir()
        proc = start(project, "quick.py", env={**os.environ, "TMPDIR": str(scratch)})
        deadline = time.monotonic() + 30
        while not list((project / "runs").glob("*/run.yaml")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # inside the fingerprint: hashing huge.bin
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == code, err
        assert "Traceback" not in err and "Aborted" not in err
        assert "ran" not in out
        record = only_record(project)
        assert record["status"] == "interrupted"
        assert record["exit_code"] is None
        assert record["error"] == (
            f"interrupted by {signal.Signals(signum).name} before the command started"
        )
        assert list(scratch.iterdir()) == []


def pty_run(project: Path, script: str, keys: bytes, expect: bytes) -> tuple[int, bytes]:
    """Run `repro run SCRIPT` on a real terminal; type ``keys`` once ``expect`` shows."""
    pid, master = pty.fork()
    if pid == 0:  # the child: a session leader whose controlling terminal is the pty
        os.chdir(project)
        os.execv(sys.executable, [*REPRO, "run", script])
    seen = b""
    typed = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if not typed and expect in seen:
            os.write(master, keys)
            typed = True
    _, status = os.waitpid(pid, 0)
    os.close(master)
    return os.waitstatus_to_exitcode(status), seen


def test_on_a_terminal_the_command_reads_input_and_gets_ctrl_c(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "ask.py").write_text("name = input('name? ')\nprint('hello', name)\n")
    code, seen = pty_run(project, "ask.py", b"ada\n", b"name? ")
    assert code == 0, seen
    assert b"hello ada" in seen
    (project / "wait.py").write_text("import time\nprint('waiting', flush=True)\ntime.sleep(60)\n")
    code, seen = pty_run(project, "wait.py", b"\x03", b"waiting")
    assert code == 130, seen
    statuses = sorted(
        yaml.safe_load((p / "run.yaml").read_text())["status"] for p in (project / "runs").iterdir()
    )
    assert statuses == ["interrupted", "succeeded"]


def state_of(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def test_ctrl_z_suspends_the_job_and_fg_resumes_it(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    (project / "nap.py").write_text(
        "import time\nprint('tick', flush=True)\ntime.sleep(1)\nprint('done', flush=True)\n"
    )
    pid, master = pty.fork()
    if pid == 0:
        os.chdir(project)
        os.execv(sys.executable, [*REPRO, "run", "nap.py"])
    seen = b""
    stopped = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.1)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if b"tick" in chunk:
                os.write(master, b"\x1a")  # Ctrl-Z
        if not stopped and b"tick" in seen and state_of(pid) == "T":
            stopped = True  # repro itself is suspended, as a shell expects of its job
            assert b"done" not in seen
            time.sleep(1.5)
            assert state_of(pid) == "T"
            os.kill(pid, signal.SIGCONT)  # what `fg` sends
    _, status = os.waitpid(pid, 0)
    os.close(master)
    assert stopped, seen
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"done" in seen
    (run,) = [p for p in (project / "runs").iterdir() if RUN_ID_RE.match(p.name)]
    assert yaml.safe_load((run / "run.yaml").read_text())["status"] == "succeeded"
