import sys

try:
    from snnkit.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line loads: one line too
    print("snnkit: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
