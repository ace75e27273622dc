"""The ``bolna-sip-operator`` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import yaml

from . import __version__

_DESCRIPTION = """\
Keep carrier SIP trunks declared as SipTrunk resources (sip.bolna.ai/v1alpha1) true in
Bolna's API and on the Kamailio SIP edge.
"""

_EPILOG = """\
examples:
  bolna-sip-operator crd | kubectl apply -f -     install or upgrade the CRD
  bolna-sip-operator validate examples/           check manifests before applying them
  bolna-sip-operator validate -o yaml trunk.yaml  print them with defaults filled in

Run 'bolna-sip-operator COMMAND --help' for each command's options.
"""

_VALIDATE_EPILOG = """\
Checks each SipTrunk against the same schema and rules the CRD enforces, fills in the
same defaults, and names the field and the fix for every problem. Other kinds (the
Secrets that examples carry along) are skipped. Rules that compare with the stored
object (provider and authType are immutable) need the apiserver and are not checked.

exit status: 0 all SipTrunks valid, 1 some invalid, 2 a file could not be read.

examples:
  bolna-sip-operator validate examples/
  kubectl get siptrunk twilio -o yaml | bolna-sip-operator validate -
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bolna-sip-operator", description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser(
        "crd", help="print the SipTrunk CustomResourceDefinition as YAML",
        description="Print the SipTrunk CRD, rendered from the operator's own models. "
                    "The checked-in crds/siptrunk.yaml is this output.")

    validate = commands.add_parser(
        "validate", help="check SipTrunk manifests offline, as the apiserver would",
        description="Validate SipTrunk manifests without a cluster.",
        epilog=_VALIDATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    validate.add_argument("paths", nargs="+", metavar="FILE",
                          help="YAML files or directories (searched for *.yaml, *.yml); "
                               "- reads standard input")
    validate.add_argument("-o", "--output", choices=("summary", "yaml"), default="summary",
                          help="summary: one line per document (default); yaml: also print "
                               "each valid SipTrunk with its defaults filled in")
    validate.add_argument("-q", "--quiet", action="store_true",
                          help="print only the invalid documents")
    return parser


def _crd() -> int:
    from .model.crd import render_yaml

    sys.stdout.write(render_yaml())
    return 0


def _validate(paths: Sequence[str], output: str, quiet: bool) -> int:
    from .model.manifest import validate_paths

    try:
        reports = validate_paths(paths)
    except (OSError, UnicodeDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    invalid = 0
    for report in reports:
        if report.skipped:
            if not quiet:
                print(f"{report.label}: skipped (not a SipTrunk)", file=sys.stderr)
        elif report.errors:
            invalid += 1
            count = len(report.errors)
            print(f"{report.label}: invalid, {count} error{'s' if count > 1 else ''}",
                  file=sys.stderr)
            for finding in report.errors:
                print(f"  {finding}", file=sys.stderr)
        elif not quiet:
            print(f"{report.label}: valid", file=sys.stderr)
        if report.warnings and not report.skipped:
            for warning in report.warnings:
                print(f"  warning: {warning}", file=sys.stderr)
        if output == "yaml" and report.defaulted is not None:
            sys.stdout.write("---\n" + yaml.safe_dump(report.defaulted, sort_keys=False))
    trunks = sum(1 for report in reports if not report.skipped)
    if trunks == 0:
        print("error: no SipTrunk documents found", file=sys.stderr)
        return 1
    print(f"{trunks - invalid} of {trunks} SipTrunks valid", file=sys.stderr)
    return 1 if invalid else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    if args.command == "crd":
        return _crd()
    if args.command == "validate":
        return _validate(args.paths, args.output, args.quiet)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
