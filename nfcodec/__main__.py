"""`python -m nfcodec`: the same command line as `nfcodec`."""

from nfcodec.cli import main

main(prog_name="nfcodec")
