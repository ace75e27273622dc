"""``python -m bolna_emulator ARGS`` is ``bolna-sip-operator emulator ARGS``."""

import sys

from bolna_sip_operator.cli import main

if __name__ == "__main__":
    sys.exit(main(["emulator", *sys.argv[1:]]))
