"""The ``bolna-sip-operator`` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import os
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
  bolna-sip-operator crd | kubectl apply -f -     install or upgrade the SipTrunk CRD
  bolna-sip-operator crd --kind all | kubectl apply -f -   ... both CRDs
  bolna-sip-operator validate examples/           check manifests before applying them
  bolna-sip-operator validate -o yaml trunk.yaml  print them with defaults filled in
  bolna-sip-operator emulator --token dev-token   a local Bolna API for tests and demos
  BOLNA_API_TOKEN=... bolna-sip-operator run      run the operator against the cluster
  bolna-sip-operator edge-agent ...               the sidecar in each Kamailio pod

Run 'bolna-sip-operator COMMAND --help' for each command's options.
"""

_VALIDATE_EPILOG = """\
Checks each SipTrunk and CarrierTrunk (by the kind of each document) against the same
schema and rules its CRD enforces, fills in the same defaults, and names the field and
the fix for every problem. Other kinds (the Secrets that examples carry along) are
skipped. Rules that compare with the stored object (a SipTrunk's provider and authType
are immutable) need the apiserver and are not checked.

exit status: 0 all trunks valid, 1 some invalid (or none found), 2 a file could not be
read.

examples:
  bolna-sip-operator validate examples/
  kubectl get siptrunk twilio -o yaml | bolna-sip-operator validate -
  kubectl get ctrunk telnyx -o yaml | bolna-sip-operator validate -
"""

_CRD_EPILOG = """\
The checked-in files are this output:
  bolna-sip-operator crd > crds/siptrunk.yaml
  bolna-sip-operator crd --kind CarrierTrunk > crds/carriertrunk.yaml
"""

_EMULATOR_EPILOG = """\
Serves Bolna's /sip-trunks API on this machine, for tests, benchmarks and the local
demo: the documented status codes, bodies and validation messages, and the rate limit
(per account, answered 429). Each token is its own account, with its own trunks. On
start it prints one line to stdout, 'bolna emulator listening on http://HOST:PORT'
(with --port 0, the port it picked), then one access line per request to stderr
(never a token or a password). SIGTERM or Ctrl-C stops it.

Tokens may also come from the environment, comma-separated, which keeps them off the
command line: BOLNA_EMULATOR_TOKENS=tok-a,tok-b.

Faults apply to /sip-trunks requests only, drawn from one generator seeded by --seed
(the same seed and requests meet the same faults). The admin API under /_emulator/
(no auth, never faulted) shows and changes everything at runtime:
  GET state | requests[?since=SEQ] | stats | faults     PUT faults     POST reset
PUT faults takes a JSON object with any of latency_ms, latency_jitter_ms, error_rate,
timeout_rate, timeout_seconds, drop_after_commit_rate, rate_limit, rate_window_seconds,
retry_after, burst_retry_after_seconds, unknown_fields_on_create,
unknown_fields_on_update, sparse_answers, omit_trunk_fields, omit_number_fields,
late_numbers_seconds, late_numbers_reads, late_numbers_list_error, record_bodies, seed,
and burst_429 (answer the next N requests 429); it answers the settings now in force.

By default the emulator answers as Bolna's OpenAPI documents: request bodies are checked
against its request schemas (422 with a FastAPI-style detail), a field outside the
update schema is ignored in a PATCH as Bolna does, 405 answers carry Allow. The switches
below make it answer like the guide's sparse examples, or list new numbers late.

examples:
  bolna-sip-operator emulator --port 8055 --token dev-token
  BOLNA_EMULATOR_TOKENS=tok-a,tok-b bolna-sip-operator emulator --state /tmp/bolna.json
  bolna-sip-operator emulator --token t --error-rate 0.2 --drop-after-commit-rate 0.1 --seed 7
  curl -X PUT http://127.0.0.1:8055/_emulator/faults -d '{"burst_429": 5}'
  bolna-sip-operator emulator --token t --sparse-answers --late-numbers-reads 2
"""


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _not_negative(text: str) -> float:
    value = float(text)
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bolna-sip-operator", description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    crd = commands.add_parser(
        "crd", help="print a CustomResourceDefinition (SipTrunk, CarrierTrunk) as YAML",
        description="Print the CRD of a kind, rendered from the operator's own models.",
        epilog=_CRD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    crd.add_argument("--kind", type=_crd_kind, default="SipTrunk", metavar="KIND",
                     help="SipTrunk (default), CarrierTrunk, or all (both, as one YAML "
                          "stream); also by plural, singular or short name")

    validate = commands.add_parser(
        "validate", help="check SipTrunk and CarrierTrunk manifests offline, as the "
                         "apiserver would",
        description="Validate SipTrunk and CarrierTrunk manifests without a cluster.",
        epilog=_VALIDATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    validate.add_argument("paths", nargs="+", metavar="FILE",
                          help="YAML files or directories (searched for *.yaml, *.yml); "
                               "- reads standard input")
    validate.add_argument("-o", "--output", choices=("summary", "yaml"), default="summary",
                          help="summary: one line per document (default); yaml: also print "
                               "each valid trunk with its defaults filled in")
    validate.add_argument("-q", "--quiet", action="store_true",
                          help="print only the invalid documents")

    emulator = commands.add_parser(
        "emulator", help="run a local emulator of Bolna's SIP trunk API",
        description="Run an emulator of Bolna's /sip-trunks API, with switchable faults.",
        epilog=_EMULATOR_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    emulator.add_argument("--host", default="127.0.0.1",
                          help="address to listen on (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=0,
                          help="port to listen on; 0 (default) picks a free one")
    emulator.add_argument("--token", action="append", default=[], metavar="TOKEN",
                          help="an API token, its own account; repeat for more accounts")
    emulator.add_argument("--state", metavar="FILE",
                          help="keep state in this file across restarts: JSON lines, a "
                               "snapshot then one line per change, each written before its "
                               "answer; mode 0600, as it holds SIP passwords. Default: in "
                               "memory only")
    emulator.add_argument("--rate-limit", type=_positive_int, default=1000, metavar="N",
                          help="requests per window per account, then 429 (default 1000)")
    emulator.add_argument("--rate-window", type=float, default=60.0, metavar="SECONDS",
                          help="sliding window of --rate-limit (default 60)")
    emulator.add_argument("--no-retry-after", dest="retry_after", action="store_false",
                          help="send 429s without a Retry-After header (Bolna does not "
                               "promise one)")
    emulator.add_argument("--latency-ms", type=_not_negative, default=0.0, metavar="MS",
                          help="fault: delay every answer by MS (default 0)")
    emulator.add_argument("--latency-jitter-ms", type=_not_negative, default=0.0,
                          metavar="MS", help="fault: a further random 0..MS delay")
    emulator.add_argument("--error-rate", type=_share, default=0.0, metavar="SHARE",
                          help="fault: answer this share (0..1) 500/502/503, before "
                               "changing anything")
    emulator.add_argument("--timeout-rate", type=_share, default=0.0, metavar="SHARE",
                          help="fault: hold this share of requests, then close without "
                               "an answer")
    emulator.add_argument("--timeout-seconds", type=_not_negative, default=30.0,
                          metavar="SECONDS", help="how long a timed-out request is held "
                                                  "(default 30)")
    emulator.add_argument("--drop-after-commit-rate", type=_share, default=0.0,
                          metavar="SHARE",
                          help="fault: make the change of this share of successful "
                               "POST/PATCH/DELETE, then drop the connection unanswered "
                               "(the lost response)")
    emulator.add_argument("--unknown-fields-on-create", choices=("refuse", "ignore"),
                          default="refuse",
                          help="a create or add-number field outside Bolna's request schema: "
                               "refuse it (422, default) or ignore it")
    emulator.add_argument("--unknown-fields-on-update", choices=("ignore", "refuse"),
                          default="ignore",
                          help="a PATCH field outside Bolna's update schema: ignore it "
                               "(default, as Bolna does) or refuse it (422)")
    emulator.add_argument("--sparse-answers", action="store_true",
                          help="answer with only the fields of the setup guide's sparsest "
                               "examples (trunks without phone_numbers, ...)")
    emulator.add_argument("--late-numbers-seconds", type=_not_negative, default=0.0,
                          metavar="SECONDS",
                          help="a number just added is missing from reads for this long")
    emulator.add_argument("--late-numbers-reads", type=int, default=0, metavar="N",
                          help="... and from this many reads (both, when both are given)")
    emulator.add_argument("--late-numbers-list-error", action="store_true",
                          help="GET .../numbers answers 500 while a number is missing")
    emulator.add_argument("--record-bodies", action="store_true",
                          help="keep request bodies in the request log (passwords "
                               "REDACTED)")
    emulator.add_argument("--seed", type=int, metavar="N",
                          help="seed of the fault generator (default: random, shown by "
                               "GET /_emulator/faults)")
    _add_run(commands)
    _add_edge_agent(commands)
    _add_import(commands)
    return parser


_IMPORT_EPILOG = """\
Lists every trunk of the Bolna account and its numbers, and writes one SipTrunk per
trunk that adopts it: the annotation sip.bolna.ai/trunk-id holds the trunk's ID and
the spec is what Bolna holds, so the operator takes the trunk over without creating or
changing anything. By default the manifests are printed as one YAML stream and nothing
is written; --out DIR writes one file per trunk.

Bolna never returns a SIP password: a userpass trunk refers to a Secret named
<name>-sip (key "password") that you create with the real password; the list of them is
printed at the end. deletionPolicy is Orphan unless --deletion-policy Delete: deleting
an imported manifest by mistake must not delete a production trunk.

The token is read from --token-file or BOLNA_API_TOKEN, never from a flag.

examples:
  BOLNA_API_TOKEN=... bolna-sip-operator import -n telephony > trunks.yaml
  bolna-sip-operator import --token-file token --out gitops/trunks/ -n telephony
  bolna-sip-operator validate gitops/trunks/ && kubectl apply -f gitops/trunks/
"""


def _add_import(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .bolna.client import DEFAULT_BASE_URL

    imp = commands.add_parser(
        "import", help="write SipTrunk manifests that adopt a Bolna account's trunks",
        description="Write SipTrunk manifests for every trunk of a Bolna account.",
        epilog=_IMPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("--bolna-url", default=os.environ.get("BOLNA_SIP_BOLNA_URL",
                                                           DEFAULT_BASE_URL),
                     help=f"Bolna's API (default BOLNA_SIP_BOLNA_URL, as for run, else "
                          f"{DEFAULT_BASE_URL})")
    imp.add_argument("--token-file", metavar="FILE",
                     help="file holding the account's API token (default: BOLNA_API_TOKEN)")
    imp.add_argument("-n", "--namespace", help="metadata.namespace of every manifest "
                                               "(default: none, as kubectl -n chooses)")
    imp.add_argument("--out", metavar="DIR",
                     help="write DIR/<name>.yaml per trunk instead of printing the stream")
    imp.add_argument("--force", action="store_true",
                     help="with --out: overwrite files that exist")
    imp.add_argument("--deletion-policy", choices=("Orphan", "Delete"), default="Orphan",
                     help="spec.deletionPolicy of every manifest (default Orphan)")
    imp.add_argument("--token-secret", metavar="NAME",
                     help="set spec.apiTokenSecretRef to Secret NAME (key token), for an "
                          "account other than the operator's default")


_RUN_EPILOG = """\
Runs until SIGTERM or Ctrl-C. Each SipTrunk is reconciled on create, on every spec
change, when a Secret it references changes, at start-up, and every --drift-interval
seconds against one list of trunks per Bolna account (so changes made in Bolna's
dashboard are put back).

The default Bolna API token is read from the file given by --token-file (a mounted
Secret) or from the environment variable BOLNA_API_TOKEN, never from a flag, so it does
not show in the process list. SipTrunks with spec.apiTokenSecretRef use their own.

Every flag can also be set in the environment as BOLNA_SIP_<FLAG> (named with each
flag above); a flag wins over its variable, which wins over the default. A repeatable
flag takes a comma-separated list there (BOLNA_SIP_NAMESPACE=team-a,team-b), a switch
1 or 0 (BOLNA_SIP_DEBUG=1).

examples:
  BOLNA_API_TOKEN=... bolna-sip-operator run
  bolna-sip-operator run --token-file /var/run/bolna/token --namespace telephony
  bolna-sip-operator run --bolna-url http://127.0.0.1:8055 --drift-interval 30 --debug
  BOLNA_SIP_DRIFT_INTERVAL=60 bolna-sip-operator run --kamailio-rpc \\
      http://127.0.0.1:5071/RPC --dispatcher-file d.list --address-file a.list
"""


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .config import ENV_PREFIX, SETTING_GROUPS, OperatorSettings, ProcessSettings
    from .flags import HelpFormatter, add_flags

    run = commands.add_parser(
        "run", help="run the operator against the current cluster",
        description="Keep Bolna and the Kamailio SIP edge equal to every SipTrunk in the "
                    "cluster.",
        epilog=_RUN_EPILOG, formatter_class=HelpFormatter, allow_abbrev=False)
    add_flags(run, (OperatorSettings, ProcessSettings), ENV_PREFIX, SETTING_GROUPS)
    # A token given as a flag would show in ps; refuse it without echoing it back.
    run.add_argument("--token", "--api-token", "--default-token", action=_RefuseToken,
                     help=argparse.SUPPRESS)


_EDGE_AGENT_EPILOG = """\
Runs beside Kamailio in each of its pods (the Helm chart adds it as a native sidecar).
It watches the ConfigMap the operator writes the lists into (--lists-configmap, the
operator's own), reads the further shards it names when the lists outgrow one ConfigMap,
writes dispatcher.list and address.list into --directory atomically, and reloads this
pod's Kamailio over JSON-RPC after each change, within a second of the operator's write.
The operator still reads back every replica's tables and reports them on each trunk.

Needs get, list and watch on the lists' ConfigMaps (the chart's edge-agent Role).
/readyz answers 200 once the newest lists are written, with what was loaded as JSON.

examples:
  bolna-sip-operator edge-agent --lists-configmap bolna/bso-kamailio-lists \\
      --directory /run/kamailio/lists --kamailio-rpc http://$POD_IP:5090/RPC
  bolna-sip-operator edge-agent --lists-configmap bolna/bso-kamailio-lists \\
      --directory /tmp/lists --once      write what a pod would load now, and exit
"""


def _add_edge_agent(commands: argparse._SubParsersAction[argparse.ArgumentParser]
                    ) -> None:
    from .agent.settings import ENV_PREFIX, SETTING_GROUPS, EdgeAgentSettings
    from .flags import HelpFormatter, add_flags

    agent = commands.add_parser(
        "edge-agent", help="load the operator's lists into this pod's Kamailio (sidecar)",
        description="Keep this pod's Kamailio loaded with the lists the operator writes.",
        epilog=_EDGE_AGENT_EPILOG, formatter_class=HelpFormatter, allow_abbrev=False)
    add_flags(agent, (EdgeAgentSettings,), ENV_PREFIX, SETTING_GROUPS)


def _edge_agent(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from .lean_imports import keep_unused_clients_out

    keep_unused_clients_out()
    from .agent.main import run_agent
    from .agent.settings import ENV_PREFIX, EdgeAgentSettings
    from .flags import SettingsError, read_settings

    try:
        settings = read_settings(EdgeAgentSettings, args, os.environ, ENV_PREFIX)
    except SettingsError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if settings.debug else logging.INFO,
                        format="[%(asctime)s] %(levelname)-8s %(name)s: %(message)s")
    for chatty in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return asyncio.run(run_agent(settings))


class _RefuseToken(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        parser.error(f"{option_string}: the token is never a flag (it would show in the "
                     "process list): use --token-file FILE or BOLNA_API_TOKEN")


def _run(args: argparse.Namespace) -> int:
    from .lean_imports import keep_unused_clients_out

    keep_unused_clients_out()
    from .config import ENV_PREFIX, OperatorSettings, ProcessSettings, token_from_environment
    from .flags import SettingsError, read_settings, unknown_variables
    from .runner import run

    for name in unknown_variables((OperatorSettings, ProcessSettings), os.environ,
                                  ENV_PREFIX):
        print(f"warning: {name} is not a setting of 'run' (see --help); ignored",
              file=sys.stderr)
    problems: list[str] = []
    token = process = settings = None
    try:
        process = read_settings(ProcessSettings, args, os.environ, ENV_PREFIX)
        token = token_from_environment(process.token_file)
    except SettingsError as error:
        problems += error.problems
    except OSError as error:
        problems.append(f"cannot read --token-file: {error}")
    try:
        settings = read_settings(OperatorSettings, args, os.environ, ENV_PREFIX,
                                 default_token=token)
    except SettingsError as error:
        problems += error.problems
    if problems or process is None or settings is None:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    if token is None:
        print("warning: no default Bolna token (BOLNA_API_TOKEN or --token-file): only "
              "SipTrunks with spec.apiTokenSecretRef can be reconciled", file=sys.stderr)
    return run(settings, liveness_endpoint=process.liveness_endpoint, metrics=process.metrics)


def _crd_kind(text: str) -> str:
    """The kind ``crd --kind`` names: a kind, its plural, singular or short name, or all."""
    from .model import names

    aliases = {
        names.KIND: (names.KIND, names.PLURAL, names.SINGULAR, *names.SHORT_NAMES),
        names.CARRIER_KIND: (names.CARRIER_KIND, names.CARRIER_PLURAL,
                             names.CARRIER_SINGULAR, *names.CARRIER_SHORT_NAMES),
        "all": ("all",),
    }
    for kind, spellings in aliases.items():
        if text.lower() in (spelling.lower() for spelling in spellings):
            return kind
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a kind: give {names.KIND}, {names.CARRIER_KIND} or all")


def _crd(kind: str) -> int:
    from .model import names
    from .model.crd import render_carrier_yaml, render_yaml

    rendered = {names.KIND: render_yaml, names.CARRIER_KIND: render_carrier_yaml}
    if kind == "all":
        sys.stdout.write("---\n".join(render() for render in rendered.values()))
    else:
        sys.stdout.write(rendered[kind]())
    return 0


def _validate(paths: Sequence[str], output: str, quiet: bool) -> int:
    from .model.manifest import KINDS, validate_paths

    try:
        reports = validate_paths(paths)
    except (OSError, UnicodeDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # kind: [valid, all]; None for a document that is not even a mapping, or bad YAML
    counts: dict[str | None, list[int]] = {kind: [0, 0] for kind in (*KINDS, None)}
    for report in reports:
        if report.skipped:
            if not quiet:
                print(f"{report.label}: skipped (not a {' or '.join(KINDS)})",
                      file=sys.stderr)
            continue
        counts[report.kind if report.kind in KINDS else None][1] += 1
        if report.errors:
            count = len(report.errors)
            print(f"{report.label}: invalid, {count} error{'s' if count > 1 else ''}",
                  file=sys.stderr)
            for finding in report.errors:
                print(f"  {finding}", file=sys.stderr)
        else:
            counts[report.kind][0] += 1
            if not quiet:
                print(f"{report.label}: valid", file=sys.stderr)
        for warning in report.warnings:
            print(f"  warning: {warning}", file=sys.stderr)
        if output == "yaml" and report.defaulted is not None:
            sys.stdout.write("---\n" + yaml.safe_dump(report.defaulted, sort_keys=False))
    if not any(total for _, total in counts.values()):
        print(f"error: no {' or '.join(KINDS)} documents found", file=sys.stderr)
        return 1
    summary = [f"{valid} of {total} {kind}s valid"
               for kind, (valid, total) in counts.items() if total and kind is not None]
    unreadable = counts[None][1]
    if unreadable:
        summary.append(f"{unreadable} unreadable document{'s' if unreadable > 1 else ''}")
    print(", ".join(summary), file=sys.stderr)
    return 1 if any(valid < total for valid, total in counts.values()) else 0


def _emulator(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bolna_emulator import TOKENS_ENV
    from bolna_emulator.app import EmulatorConfig, run
    from bolna_emulator.faults import FaultSettings

    given = [*args.token, *os.environ.get(TOKENS_ENV, "").split(",")]
    tokens = tuple(dict.fromkeys(token.strip() for token in given if token.strip()))
    if not tokens:
        print(f"error: no API token: give --token, or set {TOKENS_ENV}", file=sys.stderr)
        return 2
    if any(any(c.isspace() for c in token) for token in tokens):
        print("error: a token must not contain spaces", file=sys.stderr)
        return 2
    try:
        faults = FaultSettings(
            latency_ms=args.latency_ms, latency_jitter_ms=args.latency_jitter_ms,
            error_rate=args.error_rate, timeout_rate=args.timeout_rate,
            timeout_seconds=args.timeout_seconds,
            drop_after_commit_rate=args.drop_after_commit_rate,
            rate_limit=args.rate_limit, rate_window_seconds=args.rate_window,
            retry_after=args.retry_after,
            unknown_fields_on_create=args.unknown_fields_on_create,
            unknown_fields_on_update=args.unknown_fields_on_update,
            sparse_answers=args.sparse_answers,
            late_numbers_seconds=args.late_numbers_seconds,
            late_numbers_reads=args.late_numbers_reads,
            late_numbers_list_error=args.late_numbers_list_error,
            record_bodies=args.record_bodies)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return run(EmulatorConfig(tokens=tokens, host=args.host, port=args.port,
                              state_file=Path(args.state) if args.state else None,
                              faults=faults, seed=args.seed))


def _import(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from .bolna import errors
    from .bolna.client import BolnaClient
    from .config import TOKEN_ENV, token_from_environment
    from .importer import ImportedTrunk, object_names, read_account, trunk_manifest
    from .model.manifest import validate_document
    from .model.names import TRUNK_ID_ANNOTATION

    try:
        token = token_from_environment(Path(args.token_file) if args.token_file else None)
    except OSError as error:
        print(f"error: cannot read --token-file: {error}", file=sys.stderr)
        return 2
    if token is None or not token.get_secret_value():
        print(f"error: no Bolna API token: set {TOKEN_ENV} or give --token-file",
              file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else None

    def progress(done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            print(f"read the numbers of {done}/{total} trunks", file=sys.stderr)

    async def read() -> list[ImportedTrunk]:
        async with BolnaClient(token, base_url=args.bolna_url) as bolna:
            return await read_account(bolna, progress)

    print(f"listing the trunks of the account at {args.bolna_url}", file=sys.stderr)
    try:
        account = asyncio.run(read())
    except errors.Unauthorized:
        print(f"error: Bolna refused the token (401): check {TOKEN_ENV} or --token-file; "
              "nothing was written", file=sys.stderr)
        return 2
    except errors.BolnaError as error:
        print(f"error: Bolna: {error}; nothing was written", file=sys.stderr)
        return 1
    manifests = [trunk_manifest(t, name, namespace=args.namespace,
                                deletion_policy=args.deletion_policy,
                                token_secret=args.token_secret)
                 for t, name in zip(account, object_names(t.trunk.name for t in account),
                                    strict=True)]
    invalid = 0
    for document in manifests:
        report = validate_document(document, source=document["metadata"]["name"])
        if report.errors:  # Bolna holds something the CRD refuses: say it, write it anyway
            invalid += 1
            trunk_id = document["metadata"]["annotations"][TRUNK_ID_ANNOTATION]
            print(f"{report.label}: Bolna's trunk {trunk_id} does not pass the SipTrunk "
                  "schema; fix the manifest (or the trunk in Bolna) before applying:",
                  file=sys.stderr)
            for finding in report.errors:
                print(f"  {finding}", file=sys.stderr)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        existing = [d["metadata"]["name"] for d in manifests
                    if (out / f"{d['metadata']['name']}.yaml").exists()]
        if existing and not args.force:
            print(f"error: {len(existing)} file(s) exist in {out} (e.g. {existing[0]}.yaml):"
                  " give --force to overwrite; nothing was written", file=sys.stderr)
            return 1
        for document in manifests:
            path = out / f"{document['metadata']['name']}.yaml"
            path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        print(f"wrote {len(manifests)} file(s) to {out}", file=sys.stderr)
    else:
        for document in manifests:
            sys.stdout.write("---\n" + yaml.safe_dump(document, sort_keys=False))
    secrets = [d["spec"]["authPasswordSecretRef"]["name"] for d in manifests
               if "authPasswordSecretRef" in d["spec"]]
    print(f"{len(manifests)} trunk(s) imported", file=sys.stderr)
    if secrets:
        print("create the password Secret of each userpass trunk before applying:",
              file=sys.stderr)
        for name in secrets:
            print(f"  kubectl create secret generic {name} --from-literal=password=...",
                  file=sys.stderr)
    return 1 if invalid else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    if args.command == "crd":
        return _crd(args.kind)
    if args.command == "validate":
        return _validate(args.paths, args.output, args.quiet)
    if args.command == "emulator":
        return _emulator(args)
    if args.command == "run":
        return _run(args)
    if args.command == "import":
        return _import(args)
    if args.command == "edge-agent":
        return _edge_agent(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
