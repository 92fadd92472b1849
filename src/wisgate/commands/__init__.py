"""Subcommands of ``wisgate``, one module each; every module exports ``command`` (a click command).

cli.py registers every module found here, so adding a command never touches cli.py. Modules import
heavy dependencies inside the command function to keep ``wisgate`` start-up fast.
"""
