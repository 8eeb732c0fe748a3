"""The ``motionfit`` command line: thin typer commands that call library functions."""
