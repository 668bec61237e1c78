"""The ``repro`` command line: parse options, call one library function, print the result.

Subcommands live in their own modules and are imported only when invoked, so that
``repro --help`` stays fast (the docker SDK, jinja2 and friends cost hundreds of ms).
"""

from __future__ import annotations

import importlib

import click

from reprostack import __version__

# name -> (module, attribute, one-line help shown by `repro --help` without importing it)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("reprostack.cli.init_cmd", "init", "Write repro.yaml, inputs and the project layout."),
    "lock": ("reprostack.cli.lock_cmd", "lock", "Resolve inputs to hashed locks for the image."),
    "dockerfile": (
        "reprostack.cli.build_cmd",
        "dockerfile",
        "Render dockerfiles/Dockerfile.{dev,prod} from repro.yaml.",
    ),
    "build": ("reprostack.cli.build_cmd", "build", "Render, then build the dev or prod image."),
    "run": ("reprostack.cli.run_cmd", "run", "Run a script or command, recording the run."),
    "runs": ("reprostack.cli.runs_cmd", "runs", "List recorded runs, newest first."),
    "show": ("reprostack.cli.runs_cmd", "show", "Show one recorded run."),
    "diff": ("reprostack.cli.runs_cmd", "diff", "Show what differs between two runs."),
    "lineage": (
        "reprostack.cli.runs_cmd",
        "lineage",
        "The runs whose outputs a run read (or, --down, that read its outputs).",
    ),
    "fingerprint": (
        "reprostack.cli.fingerprint_cmd",
        "fingerprint",
        "Print the full stack fingerprint of this host or an image.",
    ),
    "replay": (
        "reprostack.cli.replay_cmd",
        "replay",
        "Re-run a run in its exact container and code.",
    ),
    "export": (
        "reprostack.cli.replay_cmd",
        "export",
        "Write a tarball that lets another machine replay a run.",
    ),
    "push": ("reprostack.cli.registry_cmd", "push", "Push the image to registry: by digest."),
    "pull": ("reprostack.cli.registry_cmd", "pull", "Fetch a run's image by its digest."),
    "image": (
        "reprostack.cli.image_cmd",
        "image",
        "Images as files (docker archives) for sites without a registry.",
    ),
    "sbom": ("reprostack.cli.sbom_cmd", "sbom", "CycloneDX SBOM of a run's image or an image."),
    "doctor": ("reprostack.cli.doctor_cmd", "doctor", "Check engine, locks, driver vs CUDA."),
    "compare": (
        "reprostack.cli.experiments_cmd",
        "compare",
        "Params, metrics and stack of runs, side by side.",
    ),
    "plot": ("reprostack.cli.experiments_cmd", "plot", "Draw metric curves of runs."),
    "sync": ("reprostack.cli.experiments_cmd", "sync", "Send runs to the tracker (MLflow)."),
    "cancel": (
        "reprostack.cli.cluster_cmd",
        "cancel",
        "Cancel a cluster run's job (scancel).",
    ),
    "data": (
        "reprostack.cli.data_cmd",
        "data",
        "Dataset manifests, change checks, toy subsets, READMEs.",
    ),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; a library error becomes its message, hint and exit code.

        This is the one place that maps errors (``repro run``/``replay`` map their own to 125
        before the command starts); CliRunner tests go through it as ``repro`` does.
        """
        from reprostack.cli.output import handle_errors

        with handle_errors():
            return super().invoke(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command: click.Command = getattr(module, entry[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="repro")
def cli() -> None:
    """Make an ML experiment reproducible end to end.

    One repro.yaml gives matching dev and prod images, hashed locks, and a full stack
    fingerprint recorded with every run in runs/<run-id>/.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI (the group turns library errors into messages and codes)."""
    cli.main(args=argv, prog_name="repro", standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    main()
