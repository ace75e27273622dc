"""The trunk index: UIDs, Secret users and claimed Bolna trunk IDs, kept per object."""

from __future__ import annotations

from typing import Any

from bolna_sip_operator.model import names
from bolna_sip_operator.model.kinds import CARRIER_TRUNK, SIP_TRUNK
from bolna_sip_operator.reconcile.claims import rightful
from bolna_sip_operator.reconcile.trunk_index import TrunkIndex


def body(uid: str, name: str, *, secret: str | None = None, recorded: str | None = None,
         annotated: str | None = None, created: str = "2026-11-01T00:00:00Z"
         ) -> dict[str, Any]:
    meta: dict[str, Any] = {"uid": uid, "name": name, "namespace": "team",
                            "creationTimestamp": created}
    if annotated:
        meta["annotations"] = {names.TRUNK_ID_ANNOTATION: annotated}
    spec = {"authPasswordSecretRef": {"name": secret}} if secret else {}
    return {"metadata": meta, "spec": spec,
            "status": {"trunkId": recorded} if recorded else {}}


def test_an_object_changing_takes_its_old_entries_out() -> None:
    index = TrunkIndex()
    index.put(SIP_TRUNK, body("u1", "a", secret="s1", annotated="T1"))
    assert index.uids() == {"u1"}
    assert [c.uid for c in index.claims(SIP_TRUNK)("T1")] == ["u1"]
    # Recorded now under another ID, with another Secret: the old ones are gone.
    index.put(SIP_TRUNK, body("u1", "a", secret="s2", recorded="T2"))
    assert index.claims(SIP_TRUNK)("T1") == []
    [claim] = index.claims(SIP_TRUNK)("T2")
    assert claim.recorded and claim.name == "a"
    index.drop("u1")
    assert index.uids() == set() and index.claims(SIP_TRUNK)("T2") == []
    assert len(index) == 0


def test_claims_are_per_kind_and_the_recorded_one_owns_the_id() -> None:
    index = TrunkIndex()
    index.put_all(SIP_TRUNK, [
        body("old", "first", annotated="T", created="2026-01-01T00:00:00Z"),
        body("rec", "second", recorded="T", created="2026-06-01T00:00:00Z")])
    index.put(CARRIER_TRUNK, body("c1", "carrier", recorded="T"))
    owner = rightful(index.claims(SIP_TRUNK)("T"))
    assert owner is not None and owner.uid == "rec"
    assert [c.uid for c in index.claims(CARRIER_TRUNK)("T")] == ["c1"]


def test_secret_users_by_kind_and_name() -> None:
    index = TrunkIndex()
    index.put(SIP_TRUNK, body("u1", "a", secret="shared"))
    index.put(CARRIER_TRUNK, body("u2", "a", secret="shared"))
    assert index.users("team", "shared") == {SIP_TRUNK.ref("a"), CARRIER_TRUNK.ref("a")}
    index.drop("u1")
    assert index.users("team", "shared") == {CARRIER_TRUNK.ref("a")}
    assert index.users("other", "shared") == set()


def test_an_object_without_a_uid_is_ignored() -> None:
    index = TrunkIndex()
    index.put(SIP_TRUNK, {"metadata": {"name": "x"}})
    assert len(index) == 0
