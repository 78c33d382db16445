"""Issue 13, finding 6a/6b: ``ledger verify`` pairs transfers between sites, and a
signed checkpoint outside the database catches a tail deleted with the head rewound
(which the chain alone cannot: the owner can move the head back)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from openkap import checkpoints
from openkap.ledger import services
from openkap.ledger.models import LedgerEntry, SiteLedgerHead
from tests.ledger.test_chain import disable_append_only_trigger, history  # noqa: F401 - fixture


def _verify(*args: str) -> tuple[bool, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("ledger", "verify", *args, stdout=out, stderr=err)
    except CommandError:
        return False, err.getvalue()
    return True, out.getvalue() + err.getvalue()


def _delete_tail_and_rewind_head(site_id: int, keep: int) -> None:
    """What the database owner can do: drop the last rows and move the head back."""
    disable_append_only_trigger()
    kept = LedgerEntry.objects.get(site_id=site_id, sequence=keep)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_ledgerentry WHERE site_id = %s AND sequence > %s", [site_id, keep])
        cursor.execute("UPDATE ledger_siteledgerhead SET last_sequence = %s, last_hash = %s WHERE site_id = %s",
                       [keep, kept.entry_hash, site_id])


def test_tail_deleted_with_the_head_rewound_is_named_against_the_checkpoint(history, site, tmp_path):  # noqa: F811
    call_command("ledger", "checkpoint", "--out", str(tmp_path), stdout=io.StringIO())
    _delete_tail_and_rewind_head(site.id, keep=3)  # the count (#4) goes
    ok, _ = _verify("--no-checkpoint")
    assert ok  # the chain alone is consistent: this is why checkpoints exist
    ok, err = _verify("--checkpoint-dir", str(tmp_path))
    assert not ok
    assert "entry #4" in err
    assert "checkpoint" in err
    assert "ends at entry #3" in err


def test_a_checkpoint_matching_the_chain_passes(history, tmp_path):  # noqa: F811
    call_command("ledger", "checkpoint", "--out", str(tmp_path), stdout=io.StringIO())
    ok, out = _verify("--checkpoint-dir", str(tmp_path))
    assert ok, out
    assert "matches the checkpoint" in out


def test_a_rewritten_entry_named_by_the_checkpoint_is_found(history, site, tmp_path):  # noqa: F811
    call_command("ledger", "checkpoint", "--out", str(tmp_path), stdout=io.StringIO())
    path = next(tmp_path.glob("ledger-*.json"))
    document = json.loads(path.read_text())
    document["payload"]["sites"][0]["head_hash"] = "0" * 64  # forged without the key
    path.write_text(json.dumps(document))
    ok, err = _verify("--checkpoint-dir", str(tmp_path))
    assert not ok
    assert "signature does not match" in err


def test_a_transfer_out_without_its_transfer_in_is_a_discrepancy(nurse_actor, admin_actor, lot, other_site):
    out, into = services.ledger_transfer(by=admin_actor, lot_id=lot.id, to_site_id=other_site.id, units="1")
    ok, _ = _verify("--no-checkpoint")
    assert ok
    # The receiving site's record of it disappears, head and balance put back to match.
    disable_append_only_trigger()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_ledgerentry WHERE id = %s", [into.id])
        cursor.execute("UPDATE ledger_siteledgerhead SET last_sequence = 0, last_hash = %s WHERE site_id = %s",
                       [_genesis(other_site.id), other_site.id])
        cursor.execute("UPDATE ledger_lotbalance SET mg = 0, units = 0 WHERE lot_id = %s", [into.lot_id])
    ok, err = _verify("--no-checkpoint")
    assert not ok
    assert f"transfer out #{out.sequence}" in err
    assert "no transfer in" in err
    assert other_site.name in err


def _genesis(site_id: int) -> str:
    from openkap.core.ledger import genesis_hash

    return genesis_hash(str(site_id))


def test_the_biennial_inventory_prints_a_signed_checkpoint(nurse_actor, nurse, prescriber, lot, site):
    from openkap.audit.models import AuditAction
    from openkap.ledger import reports

    record = services.inventory_take(
        by=nurse_actor, site_id=site.id, kind="biennial", business_time="opening", witness_id=prescriber.id,
        counts={lot.id: "10"}, signature=nurse.full_name,
    )
    report = reports.inventory_report(by=nurse_actor, inventory_id=record.id, action=AuditAction.VIEW)
    head = SiteLedgerHead.objects.get(site=site)
    printed = dict(report.checkpoint)
    assert printed["Entry"] == f"#{head.last_sequence}"
    assert printed["Head hash"] == head.last_hash
    # The printed signature is the one the checkpoint files carry: checkable with the key.
    payload = reports.inventory_checkpoint_payload(record)
    assert printed["Signature"] == f"hmac-sha256:{checkpoints.signature(payload)}"
    assert head.last_hash in reports.as_csv(report)


def test_without_a_checkpoint_key_the_inventory_still_prints_and_says_so(nurse_actor, nurse, prescriber, lot, site,
                                                                         settings):
    from openkap.audit.models import AuditAction
    from openkap.ledger import reports

    settings.OPENKAP_CHECKPOINT_KEY = ""
    record = services.inventory_take(
        by=nurse_actor, site_id=site.id, kind="biennial", business_time="opening", witness_id=prescriber.id,
        counts={lot.id: "10"}, signature=nurse.full_name,
    )
    report = reports.inventory_report(by=nurse_actor, inventory_id=record.id, action=AuditAction.VIEW)
    assert dict(report.checkpoint)["Signature"].startswith("not signed")
    with pytest.raises(CommandError, match="OPENKAP_CHECKPOINT_KEY"):
        call_command("ledger", "checkpoint", stdout=io.StringIO())
