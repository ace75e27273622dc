"""Verification compares what Kamailio reports with what was written; files are atomic."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bolna_sip_operator.kamailio.render import AddressEntry, Destination, Rendered
from bolna_sip_operator.kamailio.rpc import ListedDestination, parse_dispatcher_list
from bolna_sip_operator.kamailio.sink import FileSink
from bolna_sip_operator.kamailio.verify import address_differences, dispatcher_differences

WRITTEN = [Destination(1, "sip:a.example.com:5060", 8, 2, "duid=1-0;trunk=ns/t",
                       "a.example.com", 5060, 1),
           Destination(1, "sip:b.example.com:5060", 4, 1, "duid=1-1;trunk=ns/t",
                       "b.example.com", 5060, 2)]


def _listed(uri: str, flags: str, priority: int, attrs: str) -> ListedDestination:
    return ListedDestination(1, uri, flags, priority, attrs, None)


def test_equal_tables_have_no_differences_whatever_the_health() -> None:
    listed = [_listed("sip:a.example.com:5060", "IP", 2, "duid=1-0;trunk=ns/t"),
              _listed("sip:b.example.com:5060", "DX", 1, "duid=1-1;trunk=ns/t")]
    assert dispatcher_differences(WRITTEN, listed) == []


def test_an_unprobed_destination_may_show_probing_after_a_ping_round() -> None:
    """ds_probing_mode 1 pings every destination: flag 0 shows AX after a reload and AP
    from the first ping round on; both are what was written. Disabled stays disabled."""
    written = [Destination(1, "sip:a.example.com:5060", 0, 1, "duid=1-0;trunk=ns/t",
                           "a.example.com", 5060, 1)]
    for flags in ("AX", "AP", "TP", "IP"):
        listed = [_listed("sip:a.example.com:5060", flags, 1, "duid=1-0;trunk=ns/t")]
        assert dispatcher_differences(written, listed) == [], flags
    listed = [_listed("sip:a.example.com:5060", "DX", 1, "duid=1-0;trunk=ns/t")]
    assert dispatcher_differences(written, listed) == [
        "set 1 sip:a.example.com:5060: flags DX, written 0"]


def test_a_skipped_line_and_a_wrong_flag_are_named() -> None:
    listed = [_listed("sip:a.example.com:5060", "AX", 2, "duid=1-0;trunk=ns/t")]
    problems = dispatcher_differences(WRITTEN, listed)
    assert problems == [
        "set 1 sip:b.example.com:5060: written but not loaded (Kamailio skipped the line; "
        "see its log)",
        "set 1 sip:a.example.com:5060: flags AX, written 8"]


def test_addresses_compare_without_brackets_or_case() -> None:
    written = [AddressEntry(7, "[2001:DB8::]", 32, "ns/t"), AddressEntry(7, "10.0.0.0", 8, "ns/t")]
    assert address_differences(written, [(7, "2001:db8::", 32), (7, "10.0.0.0", 8)]) == []
    assert address_differences(written, [(7, "10.0.0.0", 8), (9, "1.2.3.4", 32)]) == [
        "address group 7 2001:db8::/32: written but not loaded",
        "address group 9 1.2.3.4/32: loaded but not written"]


def test_dispatcher_list_is_parsed_with_attrs_from_the_body() -> None:
    result = {"NRSETS": 1, "RECORDS": [{"SET": {"ID": 3, "TARGETS": [{"DEST": {
        "URI": "sip:a.example.com:5060", "FLAGS": "AP", "PRIORITY": 2,
        "ATTRS": {"BODY": "duid=3-0;trunk=ns/t", "DUID": "3-0"},
        "LATENCY": {"AVG": 1.25, "STD": 0.1, "EST": 1.2, "MAX": 2, "TIMEOUT": 0}}}]}}]}
    [listed] = parse_dispatcher_list(result)
    assert (listed.set_id, listed.flags, listed.attrs, listed.sampled) == (
        3, "AP", "duid=3-0;trunk=ns/t", True)


def test_file_sink_writes_only_what_changed(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "dispatcher.list", tmp_path / "address.list")
    rendered = Rendered(destinations=list(WRITTEN))
    first = asyncio.run(sink.publish(rendered))
    again = asyncio.run(sink.publish(rendered))
    assert (first.dispatcher, first.addresses) == (True, True)
    assert (again.dispatcher, again.addresses) == (False, False)
    assert (tmp_path / "dispatcher.list").read_text() == rendered.dispatcher_text
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_drained_destination_is_loaded_when_kamailio_holds_it_disabled() -> None:
    """``edge.drain`` writes flag 4: ``DX`` (or ``DP``) is what was written; an active
    ``AP`` is not (a replica that did not take the drain still sends calls there)."""
    drained = [Destination(1, "sip:a.example.com:5060", 4, 1, "duid=1-0;drain=1;trunk=ns/t",
                           "a.example.com", 5060, 1)]
    for flags in ("DX", "DP"):
        assert dispatcher_differences(drained, [_listed(
            "sip:a.example.com:5060", flags, 1, "duid=1-0;drain=1;trunk=ns/t")]) == []
    assert dispatcher_differences(drained, [_listed(
        "sip:a.example.com:5060", "AP", 1, "duid=1-0;drain=1;trunk=ns/t")]) == [
        "set 1 sip:a.example.com:5060: flags AP, written 4"]
