import sys

try:
    from snnkit.cli import main

    code = main()
except KeyboardInterrupt:  # Ctrl-C while the command line loads: one line too
    print("snnkit: interrupted", file=sys.stderr)
    code = 130
sys.exit(code)
