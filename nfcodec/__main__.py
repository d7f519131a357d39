"""`python -m nfcodec`: the same command line as `nfcodec`."""

from nfcodec.cli import run

run()
