"""Entry point: the root typer app, global options and the user-error contract.

A :class:`~motionfit.errors.MotionfitError` or a usage mistake prints one line on stderr and
exits 2; ``--verbose`` adds the traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
import traceback
import warnings
from dataclasses import dataclass, field
from typing import TextIO

import typer

try:  # typer >= 0.20 vendors click; older releases use the click package
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_exc  # type: ignore[no-redef]

from motionfit import __version__
from motionfit.cli import (
    config_cmd,
    data_cmd,
    eval_cmd,
    features_cmd,
    models_cmd,
    plan_cmd,
    pretrain_cmd,
    sweep_cmd,
    train_cmd,
)
from motionfit.errors import MotionfitError
from motionfit.output_dir import output_locks

app = typer.Typer(
    name="motionfit",
    help="Train video action-recognition models that learn motion, not timing, place or look.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

USER_ERROR = 2
SIGINT_EXIT = 130


@dataclass
class _State:
    """What the error handler needs to know of the current invocation."""

    verbose: bool = False
    argv: list[str] = field(default_factory=list)


_state = _State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"motionfit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors."),
) -> None:
    """motionfit: temporal + spatial augmentation and regularization for video models."""
    _state.verbose = verbose


for _module in (
    config_cmd,
    data_cmd,
    models_cmd,
    plan_cmd,
    train_cmd,
    features_cmd,
    pretrain_cmd,
    eval_cmd,
    sweep_cmd,
):
    _module.register(app)


def _fail(message: str, exc: BaseException, code: int = USER_ERROR) -> int:
    if _state.verbose or {"--verbose", "-v"} & set(_state.argv):
        traceback.print_exception(exc)
    message = " ".join(str(message).split())  # one line, always
    typer.echo(f"error: {message}", err=True)
    return code


def show_one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` for users: ``Category: message`` on one line of stderr,
    without the Python file and source line of the default format (which Lightning also
    replaces with its own when imported)."""
    (file or sys.stderr).write(f"{category.__name__}: {' '.join(str(message).split())}\n")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code (0 ok, 2 user error, 143 SIGTERM and 130
    SIGINT after a clean stop, 1 bug)."""
    _state.verbose = False
    _state.argv = list(sys.argv[1:] if argv is None else argv)
    warnings.showwarning = show_one_line_warning
    try:
        with output_locks():  # an output folder's lock ends with the command
            # typer turns Ctrl-C (KeyboardInterrupt) into a returned 130
            if app(args=argv, standalone_mode=False) == SIGINT_EXIT:
                raise KeyboardInterrupt
    except MotionfitError as exc:
        return _fail(str(exc), exc, exc.exit_code)
    except click_exc.NoArgsIsHelpError:
        return 0  # typer has printed the help already
    except click_exc.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        return _fail(f"{exc.format_message()}{hint}", exc)
    except click_exc.ClickException as exc:
        return _fail(exc.format_message(), exc)
    except (typer.Abort, KeyboardInterrupt) as exc:
        return _fail("interrupted (SIGINT)", exc, SIGINT_EXIT)
    except typer.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
