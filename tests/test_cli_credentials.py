"""No command-line error prints a credential: every subcommand's bad-argument paths, fed a
storage URL with a password, print the URL masked (argparse echoes what it refuses)."""

from __future__ import annotations

import argparse

import pytest

from mdsnn_search import cli

SECRET = "s3cr3t-Pa55"
URL = f"postgresql://ann:{SECRET}@db.example:5432/studies"


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def bad_arguments() -> list[tuple[str, list[str]]]:
    """Per subcommand: the URL as an unknown option's value, glued to an unknown option, as a
    stray positional, and as the value of each of its options (followed by an unknown option, so
    that a value the option takes still ends in an argument error)."""
    cases = []
    for name, parser in subparsers().items():
        cases += [
            (name, [name, "--no-such-option", URL]),
            (name, [name, f"--no-such-option={URL}"]),
            (name, [name, "spec.yaml", URL, URL]),
        ]
        for action in parser._actions:
            if action.option_strings and action.nargs != 0:
                option = action.option_strings[-1]
                cases.append((name, [name, option, URL, "--no-such-option"]))
                cases.append((name, [name, f"{option}={URL}", "--no-such-option"]))
    return cases


def test_every_subcommand_is_covered() -> None:
    """One parser per subcommand module (``retrain`` registers ``train``)."""
    assert len(subparsers()) == len(cli.SUBCOMMANDS) and "train" in subparsers()


@pytest.mark.parametrize(("command", "argv"), bad_arguments(), ids=lambda v: str(v)[:50])
def test_a_bad_argument_never_prints_the_password(
    command: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == cli.EXIT_USER_ERROR
    captured = capsys.readouterr()
    assert SECRET not in captured.err + captured.out
    assert "error:" in captured.err and command in argv
    if "postgresql://" in captured.err:  # echoed, then masked
        assert "postgresql://ann:***@db.example" in captured.err


def test_an_unknown_top_level_option_never_prints_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main([f"--storage={URL}", "status"])
    err = capsys.readouterr().err
    assert SECRET not in err and "postgresql://ann:***@db.example" in err
